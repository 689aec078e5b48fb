"""List filters shared by the console's inboxes."""

from django.contrib import admin


class InboxChoiceFilter(admin.SimpleListFilter):
    """A choice filter that starts on one value (the inbox view) and offers "All".

    Subclasses set ``title``, ``parameter_name``, ``field``, ``default`` and ``choices``.
    """

    field: str
    default: str
    choices_list: list[tuple[str, str]]

    def lookups(self, request, model_admin):
        return [("all", "All"), *self.choices_list]

    def choices(self, changelist):
        value = self.value() or self.default
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or self.default
        return queryset if value == "all" else queryset.filter(**{self.field: value})
