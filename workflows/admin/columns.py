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

    @admin.display(description="Claimed by")
    def claim(self, approval: Approval) -> str:
        if not approval.is_pending:
            return "-"
        if not approval.claimed_by_id:
            return format_html(
                '<button type="submit" class="button claim" form="approval-decision" formaction="{}">Claim</button>',
                reverse("admin:workflows_approval_claim", args=[approval.pk]),
            )
        return format_html(
            '{} <button type="submit" class="button unclaim" form="approval-decision" formaction="{}">Release</button>',
            approval.claimed_by.get_username(),
            reverse("admin:workflows_approval_unclaim", args=[approval.pk]),
        )

    @admin.display(description="Decision")
    def decision_buttons(self, approval: Approval) -> str:
        if not approval.is_pending:
            by = f" by {approval.decided_by.get_username()}" if approval.decided_by else ""
            return format_html('<span class="approval-status">{}{}</span>', approval.get_status_display(), by)
        approve_label = "Approve (2nd)" if approval.needs_second_approval else "Approve"
        return format_html(
            '<button type="submit" class="button default approve" form="approval-decision" formaction="{}" '
            'data-approve="{}">{}</button> <a class="button reject" href="{}">Reject…</a> '
            '<a class="assign" href="{}">Assign…</a>',
            reverse("admin:workflows_approval_approve", args=[approval.pk]),
            approval.pk,
            approve_label,
            reverse("admin:workflows_approval_reject", args=[approval.pk]),
            reverse("admin:workflows_approval_assign", args=[approval.pk]),
        )
