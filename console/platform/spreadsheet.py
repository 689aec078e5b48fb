"""Cells written to CSV files people open in spreadsheets.

A cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab / carriage return) is read as a
formula by Excel, LibreOffice and Google Sheets ("CSV injection"). Such cells are written
with a leading apostrophe, which spreadsheets show as plain text. The stored data is
never changed; only exported cells are.
"""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """The value to write for one CSV cell. Numbers pass through unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_row(values) -> list:
    return [neutralise_cell(value) for value in values]
