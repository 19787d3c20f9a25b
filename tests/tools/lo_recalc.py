"""Recalculate a workbook in LibreOffice Calc through UNO, with macros disabled, and dump
the values of some sheets as JSON.  Runs under the system Python that has python3-uno
(Debian), not the project's venv:

    /usr/bin/python3 lo_recalc.py BOOK OUT.json SHEET [SHEET ...]

Output: {"sheets": {name: [[value, ...], ...]}, "errors": {name: [[row, col], ...]}}
(rows and columns 0-based over the used area; errors are formula cells whose result
is an error, #NAME? included)."""
import json
import os
import subprocess
import sys
import tempfile
import time

import uno
from com.sun.star.beans import PropertyValue


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def main(book, out, sheets):
    profile = tempfile.mkdtemp(prefix="kam_lo_uno_")
    pipe = f"kam_{os.getpid()}"
    proc = subprocess.Popen(["soffice", "--headless", "--invisible", "--norestore", "--nologo",
                             f"-env:UserInstallation=file://{profile}",
                             f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        for _ in range(240):
            try:
                ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
                break
            except Exception:
                time.sleep(0.5)
        else:
            raise SystemExit("LibreOffice did not start")
        desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        url = uno.systemPathToFileUrl(os.path.abspath(book))
        t0 = time.perf_counter()
        doc = desktop.loadComponentFromURL(url, "_blank", 0, (
            prop("Hidden", True), prop("MacroExecutionMode", 0), prop("ReadOnly", True)))
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        doc.calculateAll()
        t_calc = time.perf_counter() - t0
        from com.sun.star.sheet.FormulaResult import ERROR
        res = {"sheets": {}, "errors": {}, "seconds": {"load": t_load, "calculate": t_calc}}
        for name in sheets:
            sh = doc.Sheets.getByName(name)
            cur = sh.createCursor()
            cur.gotoEndOfUsedArea(False)
            last_row, last_col = cur.RangeAddress.EndRow, cur.RangeAddress.EndColumn
            rng = sh.getCellRangeByPosition(0, 0, last_col, last_row)
            res["sheets"][name] = [list(r) for r in rng.getDataArray()]
            errs = []
            found = sh.queryFormulaCells(ERROR)
            for addr in found.RangeAddresses:
                for r in range(addr.StartRow, addr.EndRow + 1):
                    for c in range(addr.StartColumn, addr.EndColumn + 1):
                        cell = sh.getCellByPosition(c, r)
                        errs.append([r, c, cell.getError(), cell.getFormula()[:300]])
            res["errors"][name] = errs
        doc.close(True)
        with open(out, "w", encoding="utf-8") as f:
            json.dump(res, f, ensure_ascii=False)
    finally:
        try:
            desktop.terminate()
        except Exception:
            pass
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
