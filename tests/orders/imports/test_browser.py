"""Browser journey: an admin uploads an order CSV in the console as a dry run, reads the
first rows and the errors, imports it for real, follows it to the end on the real worker,
and downloads the rejected rows. Playwright driving Debian's Chromium.

Skipped with a reason where /usr/bin/chromium is missing; CI installs it (.ci/run)."""

import re

from console.platform import roles
from orders.imports.models import Import
from orders.models import Order
from tests.browser import JOURNEY_MARKS
from tests.conftest import make_user
from tests.orders.imports.conftest import HEADER

pytestmark = JOURNEY_MARKS


def test_an_admin_dry_runs_then_imports_a_csv_and_downloads_the_rejected_rows(
    stack,
    live_server,
    browser,  # noqa: F811 (the fixture imported above)
    artifacts_dir,
    tmp_path,
):
    from playwright.sync_api import expect

    admin = make_user("ada-admin", roles.ADMIN)
    csv_file = tmp_path / "may-orders.csv"
    csv_file.write_bytes(HEADER + b"BR-1,cust,p1,Desk lamp,1,49.50\nBR-2,cust,p2,=HYPERLINK(1),x,5\n")

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/login/?next=/orders/import/add/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", "x-" + admin.username)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/orders/import/add/"))

    page.set_input_files("#id_file", str(csv_file))
    page.select_option("#id_mode", "history")
    page.check("#id_dry_run")
    page.screenshot(path=str(artifacts_dir / "import-upload.png"))
    page.click("input[type=submit]")

    # The page refreshes itself while the worker checks the file.
    expect(page.locator(".import-status")).to_have_attribute("data-status", "CHECKED", timeout=60_000)
    preview = page.locator(".import-preview").inner_text()
    assert "Desk lamp" in preview and "quantity is not a whole number" in preview
    assert not Order.objects.filter(user_id="cust").exists()

    page.click("text=Import this file")
    expect(page.locator(".import-status")).to_have_attribute("data-status", "PARTIAL", timeout=60_000)
    assert page.locator(".orders-created").inner_text() == "1"
    assert Order.objects.filter(user_id="cust").count() == 1
    page.screenshot(path=str(artifacts_dir / "import.png"), full_page=True)

    with page.expect_download() as download:
        page.click("text=Download rejected rows (CSV)")
    content = download.value.path().read_text()
    assert "'=HYPERLINK(1)" in content and "quantity is not a whole number" in content
    assert Import.objects.filter(dry_run=False, original_name="may-orders.csv").get().orders_created == 1
    context.close()
