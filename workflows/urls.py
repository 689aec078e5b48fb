from django.urls import re_path

from workflows import apis

# Every route answers with and without a trailing slash.
urlpatterns = [
    re_path(r"^approvals/?$", apis.ApprovalListApi.as_view(), name="approval-list"),
    re_path(r"^approvals/(?P<approval_id>[0-9]+)/?$", apis.ApprovalDetailApi.as_view(), name="approval-detail"),
    re_path(
        r"^approvals/(?P<approval_id>[0-9]+)/approve/?$", apis.ApprovalApproveApi.as_view(), name="approval-approve"
    ),
    re_path(r"^approvals/(?P<approval_id>[0-9]+)/reject/?$", apis.ApprovalRejectApi.as_view(), name="approval-reject"),
    re_path(r"^approvals/(?P<approval_id>[0-9]+)/claim/?$", apis.ApprovalClaimApi.as_view(), name="approval-claim"),
    re_path(
        r"^approvals/(?P<approval_id>[0-9]+)/unclaim/?$", apis.ApprovalUnclaimApi.as_view(), name="approval-unclaim"
    ),
    re_path(r"^approvals/(?P<approval_id>[0-9]+)/assign/?$", apis.ApprovalAssignApi.as_view(), name="approval-assign"),
]
