from django.urls import re_path

from ops import apis

# Every route answers with and without a trailing slash, like the order routes.
urlpatterns = [
    re_path(r"^dlqs/?$", apis.DeadLetterQueueListApi.as_view(), name="dlq-list"),
    re_path(r"^dlqs/(?P<name>[A-Za-z0-9_.-]+)/messages/?$", apis.DeadLetterMessagesApi.as_view(), name="dlq-messages"),
    re_path(r"^dlqs/(?P<name>[A-Za-z0-9_.-]+)/groups/?$", apis.DeadLetterGroupsApi.as_view(), name="dlq-groups"),
    re_path(r"^dlqs/(?P<name>[A-Za-z0-9_.-]+)/redrive/?$", apis.DeadLetterRedriveApi.as_view(), name="dlq-redrive"),
    re_path(r"^dlqs/(?P<name>[A-Za-z0-9_.-]+)/delete/?$", apis.DeadLetterDeleteApi.as_view(), name="dlq-delete"),
    re_path(r"^dlqs/(?P<name>[A-Za-z0-9_.-]+)/purge/?$", apis.DeadLetterPurgeApi.as_view(), name="dlq-purge"),
    re_path(r"^redrives/(?P<job_id>[^/]+)/cancel/?$", apis.RedriveJobCancelApi.as_view(), name="redrive-cancel"),
    re_path(r"^redrives/(?P<job_id>[^/]+)/resume/?$", apis.RedriveJobResumeApi.as_view(), name="redrive-resume"),
    re_path(r"^redrives/(?P<job_id>[^/]+)/?$", apis.RedriveJobApi.as_view(), name="redrive-detail"),
    re_path(r"^alarms/?$", apis.AlarmListApi.as_view(), name="alarm-list"),
    re_path(r"^alarms/(?P<name>[^/]+)/history/?$", apis.AlarmHistoryApi.as_view(), name="alarm-history"),
    re_path(r"^alarms/(?P<name>[^/]+)/mute/?$", apis.AlarmMuteApi.as_view(), name="alarm-mute"),
    re_path(r"^alarms/(?P<name>[^/]+)/unmute/?$", apis.AlarmUnmuteApi.as_view(), name="alarm-unmute"),
    re_path(r"^alarms/(?P<name>[^/]+)/acknowledge/?$", apis.AlarmAcknowledgeApi.as_view(), name="alarm-acknowledge"),
    re_path(r"^alarms/(?P<name>[^/]+)/assign/?$", apis.AlarmAssignApi.as_view(), name="alarm-assign"),
]
