"""Debian's Chromium driven by Playwright, for the console's browser journeys.

Never a downloaded browser: ``/usr/bin/chromium`` from the Debian package (CI installs it
in ``.ci/run``). Playwright is the browser set of the lock files (requirements-browser.txt:
``make test`` installs it, ``make run`` does not). Journeys skip with a reason where either
is missing.
"""

import importlib.util
import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
NO_PLAYWRIGHT = importlib.util.find_spec("playwright") is None
NO_PLAYWRIGHT_REASON = "needs Playwright: the browser set, requirements-browser.txt (make install)"
# As root Chromium needs --no-sandbox; the others keep it off a network this machine lacks.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# The marks of a browser journey module: the local stack, committed data, and Chromium.
JOURNEY_MARKS = [
    pytest.mark.stack,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
    pytest.mark.skipif(NO_PLAYWRIGHT, reason=NO_PLAYWRIGHT_REASON),
]


# Chromium reports a Content-Security-Policy refusal on the page's console ("Refused to
# execute inline script because it violates the following Content Security Policy
# directive ..."); the listener below also reports the DOM's securitypolicyviolation events.
_CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || document.location.href}:${event.lineNumber}`);
});
"""


class CspWatchedBrowser:
    """The launched browser; every context it opens reports CSP violations into
    ``violations``, which the ``_no_csp_violations`` fixture turns into a failed test."""

    def __init__(self, browser):
        self._browser = browser
        self.violations: list[str] = []
        self.contexts: list = []

    def _watch(self, context):
        # Playwright injects init scripts itself: the policy under test does not apply to them.
        context.add_init_script(_CSP_REPORTER)

        def on_console(message):
            if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
                self.violations.append(f"{message.page.url if message.page else '?'}: {message.text}")

        context.on("console", on_console)
        self.contexts.append(context)
        return context

    def close_contexts(self) -> None:
        """Close what the test opened: its pages poll their live regions (console.pages.live)
        every few seconds, and a poll during the database flush that ends a transactional
        test can deadlock with it."""
        while self.contexts:
            context = self.contexts.pop()
            try:
                context.close()
            except Exception:  # closed by the test already
                pass

    def new_context(self, **kwargs):
        return self._watch(self._browser.new_context(**kwargs))

    def new_page(self, **kwargs):
        return self.new_context(**kwargs).new_page()

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture(scope="module")
def browser():
    if NO_PLAYWRIGHT:
        pytest.skip(NO_PLAYWRIGHT_REASON)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's ORM calls stay synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield CspWatchedBrowser(launched)
    launched.close()
    playwright.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(autouse=True)
def _pages_closed_before_the_flush(request):
    """A journey's pages are closed when its other fixtures are done with them (a page
    fixture may take a screenshot) and before pytest-django empties the database: set up
    after pytest-django's database fixture, this one is torn down before it."""
    if "browser" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("_django_db_helper")
    yield
    request.getfixturevalue("browser").close_contexts()


@pytest.fixture(autouse=True)
def _no_csp_violations(request):
    """A browser journey fails on any Content-Security-Policy violation its pages report."""
    yield
    if "browser" not in request.fixturenames:
        return
    watched = request.getfixturevalue("browser")
    found, watched.violations[:] = list(watched.violations), []
    if found:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(found))


def log_in(browser, live_server, user, next_path: str = "/", height: int = 900):
    """A new page logged in as ``user`` (password ``x-<username>``, as ``make_user`` sets)."""
    page = browser.new_context(viewport={"width": 1400, "height": height}).new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/login/?next={next_path}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "x-" + user.username)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(rf".*{re.escape(next_path)}.*"))
    return page
