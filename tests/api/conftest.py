def pytest_configure(config):
    # Registered here (the run uses --strict-markers) so `-m "not schemathesis"` can leave
    # the property-based run out of a quick local loop; CI runs it.
    config.addinivalue_line(
        "markers", "schemathesis: the property-based run against the served OpenAPI schema (a few minutes)"
    )
