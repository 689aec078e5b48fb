from decimal import Decimal

import pytest

from console.platform.spreadsheet import neutralise_cell, neutralise_row


@pytest.mark.parametrize("cell", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=x", "\r=x"])
def test_formula_cells_are_written_as_text(cell):
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Widget", "", "a=b", "12", 12, Decimal("-3.50"), None])
def test_other_cells_and_numbers_are_unchanged(cell):
    assert neutralise_cell(cell) == cell


def test_rows():
    assert neutralise_row(["=A1", "ok", -1]) == ["'=A1", "ok", -1]
