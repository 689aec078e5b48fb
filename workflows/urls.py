from django.urls import re_path

from workflows import apis, execution_apis

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
    re_path(r"^executions/?$", execution_apis.ExecutionListApi.as_view(), name="execution-list"),
    re_path(
        r"^executions/(?P<execution_id>[0-9]+)/?$", execution_apis.ExecutionDetailApi.as_view(), name="execution-detail"
    ),
    re_path(
        r"^executions/(?P<execution_id>[0-9]+)/restart/?$",
        execution_apis.ExecutionRestartApi.as_view(),
        name="execution-restart",
    ),
    re_path(
        r"^executions/(?P<execution_id>[0-9]+)/stop/?$",
        execution_apis.ExecutionStopApi.as_view(),
        name="execution-stop",
    ),
    re_path(r"^sagas/?$", execution_apis.SagaStartApi.as_view(), name="saga-start"),
]
