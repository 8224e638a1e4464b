"""Table pages: a filtered, paginated table that exports exactly the rows it shows (all pages)
as CSV or XLSX. Every list page in the product is one of these.

CSV streams row by row so a large export never sits in memory; XLSX is built with pandas
(openpyxl engine), the stack's tool for exports."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.generic import TemplateView

from financing.accounts.mixins import CapabilityRequiredMixin
from financing.money import format_amount

EXPORT_ROW_LIMIT = 200_000


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    #: value(row) -> the cell's value; by default the dotted attribute path `key`.
    value: Callable[[Any], Any] | None = None
    #: link(row) -> URL the cell links to.
    link: Callable[[Any], str] | None = None
    numeric: bool = False
    #: badge(row) -> tone (ok, warn, bad, neutral) to show the value as a badge.
    badge: Callable[[Any], str] | None = None

    def raw(self, row: Any) -> Any:
        if self.value is not None:
            return self.value(row)
        obj = row
        for part in self.key.split("."):
            obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
            if obj is None:
                return None
            if callable(obj) and not isinstance(obj, type):
                obj = obj()
        return obj


def display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, list | tuple):
        return ", ".join(display(v) for v in value)
    return str(value)


#: A spreadsheet reads a cell starting with one of these as a formula (or strips the control
#: character and then does): "=HYPERLINK(...)" typed into a name must stay text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_safe(text: str) -> str:
    """The cell text with a leading single quote when a spreadsheet would otherwise evaluate it
    (OWASP CSV injection). A plain number such as "-12.5" is left alone so that negative
    amounts stay numbers."""
    if text and text.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _formulas_as_text(sheet) -> None:
    """openpyxl stores any string starting with "=" as a formula; exports hold data only."""
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"


class _Echo:
    def write(self, value):
        return value


class TablePageView(CapabilityRequiredMixin, TemplateView):
    """Subclasses set title, capability, columns, get_queryset(); optionally filterset_class."""

    template_name = "dashboard/table_page.html"
    title = ""
    columns: list[Column] = []
    filterset_class = None
    paginate_by = 50
    export_name = "export"

    def get_queryset(self):
        raise ImproperlyConfigured(f"{type(self).__name__} must define get_queryset()")

    def get_columns(self) -> list[Column]:
        return list(self.columns)

    def filtered(self):
        """The rows the filters keep. A filter value that does not validate (an unknown choice,
        a mistyped date) keeps no rows, on the page and in the export, and the form shows why:
        quietly showing every row would pass for a filtered result."""
        qs = self.get_queryset()
        self.filterset = None
        if self.filterset_class is not None:
            self.filterset = self.filterset_class(
                self.request.GET or None, queryset=qs, request=self.request
            )
            if self.filterset.is_bound:
                qs = self.filterset.qs if self.filterset.is_valid() else qs.none()
        return qs

    def get(self, request, *args, **kwargs):
        fmt = request.GET.get("export")
        if fmt in ("csv", "xlsx"):
            return self.export(fmt)
        return super().get(request, *args, **kwargs)

    def rows(self, page_rows: Iterable[Any]) -> list[dict]:
        cols = self.get_columns()
        out = []
        for row in page_rows:
            cells = []
            for c in cols:
                raw = c.raw(row)
                cells.append(
                    {
                        "text": display(raw),
                        "link": c.link(row) if c.link else None,
                        "numeric": c.numeric,
                        "badge": c.badge(row) if c.badge else None,
                    }
                )
            out.append({"obj": row, "cells": cells})
        return out

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        qs = self.filtered()
        paginator = Paginator(qs, self.paginate_by)
        page = paginator.get_page(self.request.GET.get("page"))
        params = self.request.GET.copy()
        params.pop("page", None)
        params.pop("export", None)
        ctx.update(
            title=self.title,
            columns=self.get_columns(),
            table_rows=self.rows(page.object_list),
            page_obj=page,
            filterset=self.filterset,
            querystring=params.urlencode(),
        )
        return ctx

    def _export_rows(self):
        cols = self.get_columns()
        qs = self.filtered()
        iterator = qs.iterator(chunk_size=2000) if hasattr(qs, "iterator") else iter(qs)
        for i, row in enumerate(iterator):
            if i >= EXPORT_ROW_LIMIT:
                break
            yield [display(c.raw(row)) for c in cols]

    def export(self, fmt: str) -> HttpResponse:
        cols = self.get_columns()
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        filename = f"{self.export_name}-{stamp}.{fmt}"
        if fmt == "csv":
            writer = csv.writer(_Echo())

            def lines():
                yield writer.writerow([csv_safe(c.label) for c in cols])
                for r in self._export_rows():
                    yield writer.writerow([csv_safe(text) for text in r])

            resp = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        else:
            import pandas as pd

            frame = pd.DataFrame(list(self._export_rows()), columns=[c.label for c in cols])
            buf = io.BytesIO()
            with pd.ExcelWriter(buf, engine="openpyxl") as xl:
                sheet = (
                    re.sub(r"[\[\]:*?/\\]", " ", self.title or "export")[:31].strip() or "export"
                )
                frame.to_excel(xl, index=False, sheet_name=sheet)
                _formulas_as_text(xl.sheets[sheet])
            resp = HttpResponse(
                buf.getvalue(),
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        resp["Content-Disposition"] = f'attachment; filename="{filename}"'
        return resp
