"""The audit log is append-only in the database too (PostgreSQL): rows cannot be updated
or deleted, whatever code or SQL tries. The one update allowed is the one Django makes when
the acting user is deleted (actor -> NULL; actor_name keeps who it was)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION console_auditentry_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
     AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only: % of console_auditentry refused', TG_OP;
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS console_auditentry_append_only ON console_auditentry;
CREATE TRIGGER console_auditentry_append_only BEFORE UPDATE OR DELETE ON console_auditentry
  FOR EACH ROW EXECUTE FUNCTION console_auditentry_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS console_auditentry_append_only ON console_auditentry;
DROP FUNCTION IF EXISTS console_auditentry_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("console", "0003_production_depth")]

    operations = [migrations.RunPython(forwards, backwards)]
