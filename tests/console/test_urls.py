"""The console's address space: the admin site at the root."""


def test_admin_paths_lead_to_the_console_at_the_root(client):
    # Django's habitual /admin/ (and old bookmarks) redirect to the same page at "/".
    assert client.get("/admin/")["Location"] == "/"
    response = client.get("/admin/orders/order/?status__exact=FAILED")
    assert response.status_code == 302 and response["Location"] == "/orders/order/?status__exact=FAILED"


def test_the_redirect_never_leaves_the_site(client):
    for path in ("/admin//evil.example/x", "/admin/\\\\evil.example/x", "/admin///evil.example"):
        location = client.get(path)["Location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), (path, location)
