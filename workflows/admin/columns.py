"""The approvals inbox's columns: the order, what it holds, how long it waited and until
when, who claimed it, and the buttons that decide it (they submit the list's decision
form, ``approval/change_list.html``)."""

from datetime import timedelta

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timeuntil

from console.platform.timefmt import duration
from workflows import selectors
from workflows.admin.approval_pages import order_ref
from workflows.approvals.rules import ASSIGN_PERMISSION, ApprovalActions, approval_actions
from workflows.models import Approval


class ApprovalColumns:
    """``list_display`` columns of the inbox (a mixin of ``ApprovalAdmin``)."""

    @admin.display(description="Order", ordering="order__created_at")
    def order_link(self, approval: Approval) -> str:
        url = reverse("admin:workflows_approval_change", args=[approval.pk])
        return format_html(
            '<a href="{}" class="approval-order" title="{}">{}</a><br><span class="help">{}</span>',
            url,
            approval.order_id,
            order_ref(approval),
            approval.order.user_id,
        )

    @admin.display(description="Items")
    def summary(self, approval: Approval) -> str:
        return selectors.items_summary(list(approval.order.items.all()))

    @admin.display(description="Amount", ordering="order__total")
    def amount(self, approval: Approval) -> str:
        if approval.is_four_eyes:
            second = (
                format_html(
                    "<br><span class='help'>1st: {}</span>",
                    approval.first_approved_by.get_username() if approval.first_approved_by else "?",
                )
                if approval.first_approved_by_id
                else ""
            )
            return format_html(
                '<strong>{}</strong><br><span class="four-eyes" title="Needs two approvals by two people">'
                "four-eyes</span>{}",
                approval.order.total,
                second,
            )
        return format_html("<strong>{}</strong>", approval.order.total)

    @admin.display(description="Waiting", ordering="requested_at")
    def waiting(self, approval: Approval) -> str:
        if not approval.is_pending:
            # A closed approval waited until its decision (or expiry); it waits no more.
            ended = approval.waited_until
            if ended is None:
                return "-"
            return format_html(
                '<span class="waited" title="{} to {}">waited {}</span>',
                timezone.localtime(approval.requested_at).strftime("%Y-%m-%d %H:%M"),
                timezone.localtime(ended).strftime("%Y-%m-%d %H:%M"),
                duration(approval.requested_at, ended, depth=2),
            )
        return format_html(
            '<span title="since {}">{}</span>',
            timezone.localtime(approval.requested_at).strftime("%Y-%m-%d %H:%M"),
            duration(approval.requested_at, depth=2),
        )

    @admin.display(description="Expires", ordering="expires_at")
    def expiry(self, approval: Approval) -> str:
        if not approval.expires_at or not approval.is_pending:
            return "-"  # a closed approval expires no more
        now = timezone.now()
        at = timezone.localtime(approval.expires_at).strftime("%Y-%m-%d %H:%M")
        if approval.expires_at <= now:
            return format_html('<span class="expired" title="{}">expired</span>', at)
        soon = approval.expires_at - now < timedelta(hours=1)
        return format_html(
            '<span class="{}" title="{}">in {}</span>',
            "expires-soon" if soon else "",
            at,
            timeuntil(approval.expires_at, now),
        )

    # Stand-ins for the system checks: ``get_list_display`` puts the reader's own columns
    # (``reader_columns``) in their place.
    @admin.display(description="Claimed by")
    def claim(self, approval: Approval) -> str:
        return approval.claimed_by.get_username() if approval.claimed_by_id else "-"

    @admin.display(description="Decision")
    def decision_buttons(self, approval: Approval) -> str:
        return approval.get_status_display()

    def reader_columns(self, request) -> dict:
        """The columns whose buttons depend on who reads the inbox, made for this request:
        a button the reader cannot use is shown disabled with the reason, or not at all,
        instead of being refused after the click (``approval_actions``: the services' rules)."""
        may_assign = request.user.has_perm(ASSIGN_PERMISSION)

        @admin.display(description="Claimed by")
        def claim(approval: Approval) -> str:
            return self.claim_cell(approval, approval_actions(approval=approval, actor=request.user))

        @admin.display(description="Decision")
        def decision_buttons(approval: Approval) -> str:
            actions = approval_actions(approval=approval, actor=request.user)
            return self.decision_cell(approval, actions, reader_id=request.user.pk, may_assign=may_assign)

        return {"claim": claim, "decision_buttons": decision_buttons}

    def claim_cell(self, approval: Approval, actions: ApprovalActions) -> str:
        if not approval.is_pending:
            return "-"
        if not approval.claimed_by_id:
            if actions.claim:
                return format_html('<span class="help">{}</span>', "unclaimed")
            return format_html(
                '<button type="submit" class="button claim" form="approval-decision" formaction="{}">Claim</button>',
                reverse("admin:workflows_approval_claim", args=[approval.pk]),
            )
        holder = approval.claimed_by.get_username()
        if not actions.open_to_reader:
            return holder
        if actions.release:
            return format_html('{}<br><span class="refusal help">{}</span>', holder, actions.release)
        return format_html(
            '{} <button type="submit" class="button unclaim" form="approval-decision" formaction="{}">Release</button>',
            holder,
            reverse("admin:workflows_approval_unclaim", args=[approval.pk]),
        )

    def decision_cell(self, approval: Approval, actions: ApprovalActions, *, reader_id, may_assign: bool) -> str:
        if not approval.is_pending:
            by = f" by {approval.decided_by.get_username()}" if approval.decided_by else ""
            return format_html('<span class="approval-status">{}{}</span>', approval.get_status_display(), by)
        if not actions.open_to_reader:
            return format_html('<span class="help">{}</span>', actions.approve)  # may not decide approvals
        refusal_id = f"refusal-{approval.pk}"
        approve_label = "Approve (2nd)" if approval.needs_second_approval else "Approve"
        if actions.approve:
            approve = format_html(
                '<button type="button" class="button approve" disabled aria-describedby="{}">{}</button>',
                refusal_id,
                approve_label,
            )
        else:
            approve = format_html(
                '<button type="submit" class="button default approve" form="approval-decision" formaction="{}" '
                'data-approve="{}">{}</button>',
                reverse("admin:workflows_approval_approve", args=[approval.pk]),
                approval.pk,
                approve_label,
            )
        if actions.reject:
            reject = format_html(
                '<button type="button" class="button reject" disabled aria-describedby="{}">Reject…</button>',
                refusal_id,
            )
        else:
            reject = format_html(
                '<a class="button reject" href="{}">Reject…</a>',
                reverse("admin:workflows_approval_reject", args=[approval.pk]),
            )
        assign = ""
        if not approval.claimed_by_id or approval.claimed_by_id == reader_id or may_assign:
            url = reverse("admin:workflows_approval_assign", args=[approval.pk])
            assign = format_html(' <a class="assign" href="{}">Assign…</a>', url)
        reasons = list(dict.fromkeys(reason for reason in (actions.approve, actions.reject) if reason))
        refusal = (
            format_html('<br><span class="refusal help" id="{}">{}</span>', refusal_id, " ".join(reasons))
            if reasons
            else ""
        )
        return format_html("{} {}{}{}", approve, reject, assign, refusal)
