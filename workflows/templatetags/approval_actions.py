"""``{% load approval_actions %}``: ``{% approval_actions approval as actions %}`` gives what the
reader may do with an approval, and why not (``workflows.approvals.rules.approval_actions``),
so a page shows a button only as usable as it is: disabled, with the reason beside it."""

from django import template

from workflows.approvals.rules import approval_actions as actions_for

register = template.Library()


@register.simple_tag(takes_context=True)
def approval_actions(context, approval):
    return actions_for(approval=approval, actor=context["request"].user)
