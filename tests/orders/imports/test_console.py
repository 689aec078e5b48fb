"""Console pages of order CSV imports: uploading an order CSV (import or dry run),
following an import, the rejected rows, Resume and "Import this file"; the home page's
panel; the pages' old addresses under /media/import/. State changes are POSTs with CSRF,
refused without the permission."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from console.platform import roles
from orders.imports.models import Import
from orders.imports.services import csv_import_object, import_run_inline, inline_jobs
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
    page = logged_in(console_client, admin_user).get(f"/orders/import/{import_run.pk}/change/").content.decode()
    assert 'http-equiv="refresh"' in page and "Waiting to start" in page and "0%" in page


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
    from console.models import AuditEntry
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
    assert AuditEntry.objects.get(action="import.start").source == AuditEntry.Source.SYSTEM  # the event made it
    assert (import_run.mode, import_run.strict, import_run.options_fixed) == ("history", True, True)
    assert import_run.created_by == admin_user
    history = AuditEntry.objects.get(action="import.history")
    assert history.actor_name == "ada-admin"


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
