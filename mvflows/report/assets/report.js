// mvflows report: sort the results table by a header click, filter it by ion and host.
// Plain JavaScript inlined into the page: it works from disk, offline, with no library.
(function () {
  "use strict";
  const table = document.getElementById("results-table");
  if (!table) {
    return;
  }
  const body = table.tBodies[0];
  const headers = Array.from(table.tHead.rows[0].cells);

  // A cell sorts by its data-sort value (the unrounded number) or else its text;
  // cells without a number ("-", "skipped") sort last in either direction.
  function key(row, col, numeric) {
    const cell = row.cells[col];
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    if (!numeric) {
      return raw.toLowerCase();
    }
    const value = parseFloat(raw);
    return Number.isNaN(value) ? null : value;
  }

  function sortBy(col) {
    const th = headers[col];
    const numeric = th.dataset.type === "num";
    const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    const sign = dir === "ascending" ? 1 : -1;
    const rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      const x = key(a, col, numeric);
      const y = key(b, col, numeric);
      if (x === null || y === null) {
        return (x === null) - (y === null);
      }
      return x < y ? -sign : x > y ? sign : 0;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  headers.forEach(function (th, col) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(col); });
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        sortBy(col);
      }
    });
  });

  const ion = document.getElementById("filter-ion");
  const host = document.getElementById("filter-host");
  const shown = document.getElementById("shown");
  function filter() {
    let n = 0;
    Array.from(body.rows).forEach(function (row) {
      const keep = (!ion.value || row.dataset.ion === ion.value) && (!host.value || row.dataset.host === host.value);
      row.hidden = !keep;
      n += keep ? 1 : 0;
    });
    shown.textContent = String(n);
  }
  ion.addEventListener("change", filter);
  host.addEventListener("change", filter);
  filter();
})();
