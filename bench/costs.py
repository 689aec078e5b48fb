"""The cost page on the local stack, after traffic: the figures of docs/costs.md.

    .venv/bin/python -m console.devtools.devstack --port 8731 --aws-port 5731 --websocket-port 8733 &
    make reference-test ...   (against that console: --reference-live-server=http://127.0.0.1:8731)
    .venv/bin/python bench/costs.py --console http://127.0.0.1:8731 --admin-password PASSWORD

Against a running ``make run`` (started with ``LOCAL_AWS_METRICS_SECONDS`` as short as you
like; AWS's is 60): imports ``--orders`` orders (1 to 3 items each) as an API client
would, through a presigned upload of an order CSV to the files bucket (the import starts
by itself, its workflows after it), waits for the import and for the metrics of what it
set off to be published, then prints the cost page's figures (``GET /api/costs``, read
again) and saves a screenshot of the page, logged in as ``admin``, with Chromium
(``/usr/bin/chromium``) to ``--screenshot``.
"""

import argparse
import csv
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def order_csv(orders: int, seed: int = 18) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["order_reference", "user_id", "product_id", "name", "quantity", "price"])
    for number in range(orders):
        for item in range(rng.randint(1, 3)):
            writer.writerow(
                [
                    f"COST-{number:05d}",
                    f"customer-{number % 97}",
                    f"sku-{item}",
                    f"Item {item}",
                    rng.randint(1, 4),
                    "9.50",
                ]
            )
    return out.getvalue().encode()


def issue_token(name: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "issue_token", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def import_orders(console: str, token: str, orders: int) -> dict:
    body = order_csv(orders)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    upload = api.post(
        f"{console}/api/uploads",
        json={"purpose": "orders-csv", "filename": "cost-demo.csv", "contentType": "text/csv", "size": len(body)},
        timeout=30,
    )
    upload.raise_for_status()
    form = upload.json()
    posted = requests.post(
        form["url"], data=form["fields"], files={"file": ("cost-demo.csv", body, "text/csv")}, timeout=60
    )
    posted.raise_for_status()
    started = time.monotonic()
    while time.monotonic() - started < 900:
        found = api.get(f"{console}/api/imports", params={"key": form["key"]}, timeout=30).json()["results"]
        if found and found[0]["status"] not in ("PENDING", "RUNNING"):
            print(
                f"import {found[0]['status']} in {time.monotonic() - started:.0f} s: {found[0]['ordersCreated']} orders"
            )
            return found[0]
        time.sleep(5)
    raise SystemExit("the import did not end within 15 minutes")


def screenshot(console: str, password: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{console}/login/?next=/ops/stagecost/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url("**/ops/stagecost/**")
        page.goto(f"{console}/ops/stagecost/?refresh=1")
        page.screenshot(path=str(path), full_page=True)
        browser.close()
    print(f"screenshot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--console", default="http://127.0.0.1:8000")
    parser.add_argument("--aws", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--admin-password", required=True, help="the demo admin's, as make run printed it")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--settle-seconds", type=float, default=120, help="wait for the metrics after the import")
    parser.add_argument("--screenshot", type=Path, default=ROOT / "docs" / "screenshots" / "costs.png")
    args = parser.parse_args()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings.dev",
        "AWS_ENDPOINT_URL": args.aws,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if args.orders:
        import_orders(args.console, issue_token("cost-demo", env), args.orders)
        print(f"waiting {args.settle_seconds:.0f} s for the workflows and the metrics")
        time.sleep(args.settle_seconds)
    admin = requests.Session()
    login = admin.get(f"{args.console}/login/", timeout=30)
    login.raise_for_status()
    admin.post(
        f"{args.console}/login/",
        data={"username": "admin", "password": args.admin_password, "csrfmiddlewaretoken": admin.cookies["csrftoken"]},
        headers={"Referer": f"{args.console}/login/"},
        timeout=30,
    ).raise_for_status()
    admin.get(f"{args.console}/ops/stagecost/", params={"refresh": "1"}, timeout=120).raise_for_status()
    report = admin.get(f"{args.console}/api/costs", timeout=120).json()
    print(json.dumps(report, indent=2))
    screenshot(args.console, args.admin_password, args.screenshot)


if __name__ == "__main__":
    main()
