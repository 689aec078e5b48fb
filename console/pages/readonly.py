"""Console pages that only show rows: nobody adds, changes or deletes them by hand.

The rows are written by services, AWS events and jobs (audit entries, executions, dead
letters, alarms...). The page's own buttons (approve, redrive, retry...) check their own
permissions.
"""


class ReadOnlyAdminMixin:
    """Deny add, change and delete on a ``ModelAdmin`` or an inline; viewing still needs
    the model's view permission.

    ``deletable = True`` keeps deleting for pages where it means something of its own
    (revoking a token, lifting a login lockout), still under the model's delete permission.
    """

    deletable = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.deletable and super().has_delete_permission(request, obj)
