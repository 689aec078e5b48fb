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


def test_favicon_ico_leads_to_the_consoles_icon_and_every_page_names_it(client, admin_user):
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("console/favicon.ico")
    found = finders.find("console/favicon.ico")
    assert found and open(found, "rb").read(4) == b"\x00\x00\x01\x00"  # an ICO file
    assert finders.find("console/favicon.svg")

    assert '<link rel="icon"' in client.get("/login/").content.decode()
    client.force_login(admin_user)
    for page in ("/", "/orders/order/", "/console/auditentry/"):
        html = client.get(page).content.decode()
        assert '<link rel="icon" href="/static/console/favicon.svg" type="image/svg+xml">' in html, page
