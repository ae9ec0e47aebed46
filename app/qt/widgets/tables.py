"""Helpers for the read-only tables the panels show."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def make_table(columns: tuple[str, ...], name: str, *, fit: bool = True, stretch_last: bool = True) -> QTableWidget:
    """A row-selecting, non-editable table with ``columns`` and object name ``name``.

    ``stretch_last=False`` for tables ending in a number column (a stretched
    number would sit far from its label).
    """
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    if fit:
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(stretch_last)
    table.setAlternatingRowColors(True)
    return table


def cell(text: Any, right: bool = False, key: str | None = None) -> QTableWidgetItem:
    """One cell; ``right`` aligns numbers, ``key`` is stored as its user data (row identity)."""
    item = QTableWidgetItem(str(text))
    if right:
        item.setTextAlignment(RIGHT)
    if key is not None:
        item.setData(Qt.ItemDataRole.UserRole, key)
    return item
