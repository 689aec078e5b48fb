"""Console pages of order CSV imports: uploading an order CSV (import or dry run),
following an import, the rejected rows, Resume and "Import this file"; the home page's
panel; the pages' old addresses under /media/import/. State changes are POSTs with CSRF,
refused without the permission."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from console.models import AuditEntry
from console.platform import roles
from orders.imports.models import Import
from orders.imports.services import csv_import_object, import_fail, import_run_inline, inline_jobs
from orders.models import Order
from tests.conftest import csrf_post, make_user
from tests.orders.imports.conftest import HEADER

pytestmark = pytest.mark.django_db

ADD_IMPORT = "/orders/import/add/"


@pytest.fixture
def admin_user(db):
    return make_user("ada-admin", roles.ADMIN)


def logged_in(console_client, user):
    console_client.force_login(user)
    return console_client


def upload(client, data: bytes, **options):
    page = client.get(ADD_IMPORT)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    form = {"file": SimpleUploadedFile("orders.csv", data, "text/csv"), "mode": "history", "csrfmiddlewaretoken": token}
    form.update({name: "on" for name, value in options.items() if value})
    with inline_jobs():
        return client.post(ADD_IMPORT, form)


def test_a_dry_run_from_the_console_shows_rows_and_errors_then_imports_for_real(console_client, admin_user, local_aws):
    client = logged_in(console_client, admin_user)
    response = upload(client, HEADER + b"C-1,cust,p,Lamp,2,9.5\nC-2,cust,p,Desk,-1,100\n", dry_run=True)
    assert response.status_code == 302
    dry_run = Import.objects.get()
    assert dry_run.dry_run and dry_run.key.startswith("uploads/dry-runs/")  # not where S3 events import
    import_run_inline(import_id=dry_run.pk)

    page = client.get(response["Location"]).content.decode()
    assert "Dry run done" in page and "would be imported" in page
    assert "<td>Lamp</td>" in page and "quantity is negative" in page
    assert "Import this file" in page and not Order.objects.exists()

    with inline_jobs():
        promoted = csrf_post(client, response["Location"], f"/orders/import/{dry_run.pk}/import-for-real/")
    assert promoted.status_code == 302
    real = Import.objects.get(dry_run=False)
    import_run_inline(import_id=real.pk)
    page = client.get(promoted["Location"]).content.decode()
    assert "Imported, some rows rejected" in page and "Download rejected rows" in page
    assert Order.objects.count() == 1


def test_a_running_import_page_refreshes_itself_and_shows_progress(console_client, admin_user, put_object):
    with inline_jobs():
        import_run = csv_import_object(info=put_object(HEADER + b"R-1,c,p,n,1,1\n"), mode="history")
    client = logged_in(console_client, admin_user)
    page = client.get(f"/orders/import/{import_run.pk}/change/").content.decode()
    assert 'http-equiv="refresh"' in page and "Waiting to start" in page
    Import.objects.filter(pk=import_run.pk).update(
        status=Import.Status.RUNNING, chunks_total=4, chunks_done=1, bytes_done=import_run.size // 4
    )
    percent = Import.objects.get(pk=import_run.pk).progress_percent
    page = client.get(f"/orders/import/{import_run.pk}/change/").content.decode()
    assert 0 < percent < 100 and f"{percent}%" in page
    assert 'http-equiv="refresh"' in page and "(1 of 4 chunks)" in page


def test_operators_see_imports_but_cannot_upload_or_resume(console_client, operator, put_object):
    with inline_jobs():
        import_run = csv_import_object(info=put_object(HEADER), mode="history")
    client = logged_in(console_client, operator)
    assert client.get("/orders/import/").status_code == 200
    assert client.get(ADD_IMPORT).status_code == 403
    page = f"/orders/import/{import_run.pk}/change/"
    assert "Resume" not in client.get(page).content.decode()
    assert csrf_post(client, page, f"/orders/import/{import_run.pk}/resume/").status_code == 403


def test_resume_is_a_post_with_csrf(console_client, admin_user, put_object):
    with inline_jobs():
        import_run = csv_import_object(info=put_object(HEADER + b"R-1,c,p,n,1,1\n"), mode="history")
    client = logged_in(console_client, admin_user)
    assert client.get(f"/orders/import/{import_run.pk}/resume/").status_code == 405
    assert client.post(f"/orders/import/{import_run.pk}/resume/").status_code == 403  # no CSRF token
    with inline_jobs():
        response = csrf_post(
            client, f"/orders/import/{import_run.pk}/change/", f"/orders/import/{import_run.pk}/resume/"
        )
    assert response.status_code == 302


def test_the_rejected_rows_csv_from_the_console(console_client, admin_user, run_import):
    import_run = run_import(HEADER + b"X-1,c,p,@SUM(A1),x,1\n")
    response = logged_in(console_client, admin_user).get(f"/orders/import/{import_run.pk}/rejected-rows.csv")
    content = b"".join(response.streaming_content).decode()
    assert "'@SUM(A1)" in content and "quantity is not a whole number" in content


def test_the_home_page_shows_running_and_failed_imports(console_client, operator, run_import, put_object):
    from django.core.cache import cache

    failed = run_import(b"")
    with inline_jobs():
        running = csv_import_object(info=put_object(HEADER + b"R-1,c,p,n,1,1\n"), mode="history")
    Import.objects.filter(pk=running.pk).update(status=Import.Status.RUNNING, chunks_total=4, chunks_done=1)
    done = run_import(HEADER + b"D-1,c,p,n,1,1\n")
    cache.clear()  # panels are cached for a few seconds

    page = logged_in(console_client, operator).get("/").content.decode()
    assert "Imports running or failed" in page
    assert f"/orders/import/{failed.pk}/change/" in page and "The file is empty." in page
    assert f"/orders/import/{running.pk}/change/" in page and "1/4 chunks" in page
    assert f"/orders/import/{done.pk}/change/" not in page


def test_history_mode_in_the_console_needs_its_permission_and_stores_nothing_without_it(console_client, files_bucket):
    from django.contrib.auth.models import Permission

    from orders.imports.models import CsvUpload

    # May import (orders.add_import), may not decide history.
    importer = make_user("ivan-importer", None)
    importer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="orders", codename__in=["view_import", "add_import"])
    )
    client = logged_in(console_client, importer)

    def stored() -> set[str]:
        from console.aws import clients as aws

        listing = aws.client("s3").list_objects_v2(Bucket=files_bucket, Prefix="incoming/orders/")
        return {item["Key"] for item in listing.get("Contents", [])}

    before = stored()
    response = upload(client, HEADER + b"BIG-1,c,p,n,1,999999\n")  # the form's mode: history
    assert response.status_code == 400
    assert "needs the permission orders.import_history" in response.content.decode()
    assert not Import.objects.exists() and not CsvUpload.objects.exists()
    assert stored() == before  # no object for an S3 event to import


def test_a_console_upload_whose_s3_event_comes_first_is_imported_with_the_forms_options(
    console_client, admin_user, files_bucket
):
    from unittest import mock

    from console.aws import s3
    from media.services import s3_object_created  # the S3 event, received by the media app

    real_head = s3.head
    events = []

    def event_first(*, bucket, key):
        if not events:  # the console's look at its new object: the files-events queue was quicker
            events.append(key)
            s3_object_created(bucket=bucket, key=key)
        return real_head(bucket=bucket, key=key)

    with mock.patch.object(s3, "head", side_effect=event_first):
        response = upload(logged_in(console_client, admin_user), HEADER + b"C-1,c,p,n,1,1\n", strict=True)
    assert response.status_code == 302 and events
    import_run = Import.objects.get()
    assert (import_run.mode, import_run.strict, import_run.options_fixed) == ("history", True, True)
    assert import_run.created_by == admin_user
    # The event made it, on the upload's behalf: the uploader's action, from the console,
    # under the upload request's id; the file keeps the name it had on the uploader's machine.
    asked = AuditEntry.objects.get(action="upload.request")
    started = AuditEntry.objects.get(action="import.start")
    assert (started.actor_name, started.source) == ("ada-admin", AuditEntry.Source.CONSOLE)
    assert started.request_id and started.request_id == asked.request_id == response["X-Request-ID"]
    assert import_run.correlation_id == asked.request_id
    assert import_run.original_name == "orders.csv" and import_run.key.endswith("-orders.csv")
    history = AuditEntry.objects.get(action="import.history")
    assert history.actor_name == "ada-admin" and history.request_id == asked.request_id


def test_an_uploaded_import_shows_the_files_own_name_and_its_uploader(console_client, admin_user, files_bucket):
    client = logged_in(console_client, admin_user)
    page = client.get(ADD_IMPORT)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    form = {
        "file": SimpleUploadedFile("May orders (final).csv", HEADER + b"N-1,c,p,n,1,1\n", "text/csv"),
        "mode": "history",
        "csrfmiddlewaretoken": token,
    }
    with inline_jobs():
        response = client.post(ADD_IMPORT, form)
    import_run = Import.objects.get()
    assert import_run.original_name == "May orders (final).csv"
    assert import_run.created_by == admin_user
    started = AuditEntry.objects.get(action="import.start")
    assert started.actor_name == "ada-admin" and started.request_id == response["X-Request-ID"]

    listing = client.get("/orders/import/").content.decode()
    assert "May orders (final).csv" in listing and "ada-admin" in listing
    detail = client.get(response["Location"]).content.decode()
    assert "Import of May orders (final).csv" in detail
    assert '<td class="import-created-by">ada-admin</td>' in detail


def test_a_failed_import_shows_the_part_done_never_a_full_bar(console_client, admin_user, put_object):
    with inline_jobs():
        import_run = csv_import_object(info=put_object(HEADER + b"F-1,c,p,n,1,1\n" * 40), mode="history")
    # Two of five chunks were done when a chunk kept failing.
    Import.objects.filter(pk=import_run.pk).update(
        status=Import.Status.RUNNING, chunks_total=5, chunks_done=2, bytes_done=import_run.size * 2 // 5
    )
    import_fail(import_id=import_run.pk, error="Chunk 2 (from line 18) failed: boom")
    import_run.refresh_from_db()
    assert import_run.progress_percent == 40

    client = logged_in(console_client, admin_user)
    page = client.get(f"/orders/import/{import_run.pk}/change/").content.decode()
    assert 'class="import-failed" max="100" value="40"' in page and "Failed at 40%" in page
    assert "2 of 5 chunks done" in page and 'value="100"' not in page
    listing = client.get("/orders/import/").content.decode()
    assert 'value="40" title="Failed after 40%"' in listing and "failed at 40%" in listing
    # Failed: Resume goes on from the done chunks.
    assert 'value="Resume"' in page


def test_a_fresh_import_waits_to_start_and_offers_no_resume(console_client, admin_user, put_object):
    with inline_jobs():
        import_run = csv_import_object(info=put_object(HEADER + b"W-1,c,p,n,1,1\n"), mode="history")
    client = logged_in(console_client, admin_user)
    page_url = f"/orders/import/{import_run.pk}/change/"
    page = client.get(page_url).content.decode()
    assert "Waiting to start: the file has not been read yet." in page
    assert "0 of 0 chunks" not in page and 'value="Resume"' not in page
    assert "Waiting to start" in client.get("/orders/import/").content.decode()

    # Posted anyway (an old tab): refused with the reason, nothing queued, nothing audited.
    response = csrf_post(client, page_url, f"/orders/import/{import_run.pk}/resume/")
    assert response.status_code == 302
    followed = client.get(response["Location"]).content.decode()
    assert "Nothing was resumed: The import is waiting to start" in followed
    assert not AuditEntry.objects.filter(action="import.resume").exists()

    # A running import that still moves has nothing to resume either.
    Import.objects.filter(pk=import_run.pk).update(status=Import.Status.RUNNING, chunks_total=3, chunks_done=1)
    assert 'value="Resume"' not in client.get(page_url).content.decode()


def test_an_import_that_stalled_offers_resume_and_resuming_is_audited(console_client, admin_user, put_object, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.CSV_IMPORT_STALLED_SECONDS = 60
    with inline_jobs():
        import_run = csv_import_object(info=put_object(HEADER + b"S-1,c,p,n,1,1\n"), mode="history")
    Import.objects.filter(pk=import_run.pk).update(updated_at=timezone.now() - timedelta(seconds=61))
    client = logged_in(console_client, admin_user)
    page_url = f"/orders/import/{import_run.pk}/change/"
    assert 'value="Resume"' in client.get(page_url).content.decode()
    with inline_jobs():
        response = csrf_post(client, page_url, f"/orders/import/{import_run.pk}/resume/")
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="import.resume")
    assert entry.actor_name == "ada-admin" and entry.source == AuditEntry.Source.CONSOLE
    # Touched by the resume: not offered again until it stalls again.
    assert 'value="Resume"' not in client.get(page_url).content.decode()


def test_an_empty_import_list_says_how_files_get_there(console_client, admin_user, operator):
    admin = logged_in(console_client, admin_user)
    imports = admin.get("/orders/import/").content.decode()
    assert "No imports yet." in imports and "incoming/orders/" in imports and "Add import" in imports
    # Filtered or searched to nothing is not "empty": the plain count says so.
    assert "No imports yet." not in admin.get("/orders/import/?status__exact=FAILED").content.decode()
    assert "No imports yet." not in admin.get("/orders/import/?q=nothing").content.decode()

    # Operators may look, not upload: no pointer to a button they do not have.
    viewer = logged_in(console_client, operator).get("/orders/import/").content.decode()
    assert "No imports yet." in viewer and "Or upload one here" not in viewer


def test_the_pages_old_addresses_under_media_lead_to_the_same_pages_with_their_query(
    console_client, admin_user, put_object
):
    with inline_jobs():
        import_run = csv_import_object(info=put_object(HEADER + b"R-1,c,p,n,1,1\n"), mode="history")
    client = logged_in(console_client, admin_user)
    moved = {
        "/media/import/": "/orders/import/",
        "/media/import/?status__exact=FAILED&q=a%20b": "/orders/import/?status__exact=FAILED&q=a%20b",
        f"/media/import/{import_run.pk}/change/": f"/orders/import/{import_run.pk}/change/",
        f"/media/import/{import_run.pk}/rejected-rows.csv": f"/orders/import/{import_run.pk}/rejected-rows.csv",
        "/media/import/add/": "/orders/import/add/",
        # Never to another site: "//example.com" would be one.
        "/media/import//example.com/": "/orders/import/example.com/",
    }
    for old, new in moved.items():
        response = client.get(old)
        assert (response.status_code, response["Location"]) == (302, new), old
    assert client.get(f"/media/import/{import_run.pk}/change/", follow=True).status_code == 200
    # Media's own pages stay where they are.
    assert client.get("/media/mediaasset/").status_code == 200


def test_an_imported_orders_page_links_its_import_line_and_external_reference(
    console_client, operator, run_import, django_assert_max_num_queries
):
    from django.contrib.auth.models import Permission

    from orders.imports.order_page import import_panel

    import_run = run_import(HEADER + b"EXT-7,c,p,Lamp,1,1\nEXT-8,c,p,Desk,1,2\n")
    order = Order.objects.get(import_references__reference="EXT-8")
    with django_assert_max_num_queries(1):
        assert import_panel(order.pk).context["line"] == 3

    page = logged_in(console_client, operator).get(f"/orders/order/{order.pk}/change/").content.decode()
    link = f'<a href="/orders/import/{import_run.pk}/change/">{import_run}</a>, line 3'
    assert link in page
    assert '<td class="external-reference"><code>EXT-8</code></td>' in page

    # Someone who may see orders, not imports: the import named, not linked.
    viewer = make_user("vera-viewer", None)
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="orders", codename="view_order"))
    page = logged_in(console_client, viewer).get(f"/orders/order/{order.pk}/change/").content.decode()
    assert f"{import_run}, line 3" in page and f"/orders/import/{import_run.pk}/change/" not in page


def test_an_order_that_was_not_imported_has_no_import_panel(console_client, operator):
    from orders.services import order_create

    order = order_create(
        user_id="c-1", items=[{"product_id": "p", "name": "Lamp", "quantity": 1, "price": "1"}], start_workflow=False
    )
    page = logged_in(console_client, operator).get(f"/orders/order/{order.pk}/change/").content.decode()
    assert "import-origin-panel" not in page
