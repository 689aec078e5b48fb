from django.contrib import admin

from console.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_name", "source", "action", "object_type", "object_id", "reason"]
    list_filter = ["source", "action", "object_type"]
    search_fields = ["=object_id", "=actor_name", "=request_id"]
    date_hierarchy = "created_at"
    list_select_related = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    # Append-only: nobody adds, edits or deletes entries through the console.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
