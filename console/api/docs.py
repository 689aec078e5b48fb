"""The OpenAPI schema and its docs page. drf-spectacular (and the test utilities it imports)
loads when one of them is asked for, not on every cold start of the REST API."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # as DRF's views are: session requests are checked by DRF's own authentication
def schema(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    from drf_spectacular.views import SpectacularAPIView

    return SpectacularAPIView.as_view()(request, *args, **kwargs)


def docs(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    from drf_spectacular.views import SpectacularSwaggerView

    return SpectacularSwaggerView.as_view(url_name="api-schema")(request, *args, **kwargs)
