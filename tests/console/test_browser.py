"""The console's own pages in a real browser under its Content-Security-Policy: the login,
the home page, the API docs (Swagger UI from our static files) and enrolling a second
factor. The ``browser`` fixture fails any journey whose pages report a CSP violation; the
last test shows that it notices one.

Skipped with a reason where /usr/bin/chromium is missing; CI installs it (.ci/run)."""

import re

import pytest

from console.platform import roles
from tests.browser import CHROMIUM
from tests.browser import log_in as browser_log_in
from tests.conftest import make_user
from tests.console.test_two_factor import totp

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def admin_user(transactional_db):
    return make_user("alice-admin", roles.ADMIN)


def test_the_home_page_and_the_api_docs_run_under_the_policy(browser, live_server, admin_user, artifacts_dir):
    page = browser_log_in(browser, live_server, admin_user, next_path="/")
    assert page.locator("#dashboard").is_visible()
    page.goto(f"{live_server.url}/api/docs")
    # Swagger UI is built by the page's scripts: the bundle (static) and its nonced setup.
    page.locator(".swagger-ui .information-container").wait_for()
    page.get_by_text("/api/orders").first.wait_for()
    page.screenshot(path=str(artifacts_dir / "console-api-docs.png"), full_page=False)


def test_an_operator_enrols_an_authenticator_in_the_browser(browser, live_server, artifacts_dir):
    operator = make_user("otto-operator", roles.OPERATOR)
    page = browser_log_in(browser, live_server, operator, next_path="/")
    page.get_by_role("link", name="Two-factor authentication").click()
    page.get_by_role("button", name="Set up an authenticator app").click()
    assert page.locator("#two-factor-qr svg").is_visible()
    page.screenshot(path=str(artifacts_dir / "console-two-factor.png"), full_page=True)
    secret = page.locator("#two-factor-secret").inner_text()
    page.fill("#id_token", totp(secret))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    page.wait_for_url(re.compile(rf"{re.escape(live_server.url)}/$"))
    assert "Two-factor authentication is on" in page.content()


def test_the_browser_fixture_notices_a_blocked_inline_script(browser, live_server, admin_user):
    page = browser_log_in(browser, live_server, admin_user, next_path="/")
    # As an injected script would: an inline <script> without the nonce.
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.ran = 1";
                             document.body.appendChild(s); }""")
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.ran") is None  # refused by the policy
    found, browser.violations[:] = list(browser.violations), []  # taken here, so this test passes
    assert any("script-src" in violation for violation in found), found
