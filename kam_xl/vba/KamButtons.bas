Attribute VB_Name = "KamButtons"
' kam_xl button macros: one argument-free Sub per button on the home sheet.
' Each hands over to Python through xlwings' RunPython; the Python side
' (kam_xl.xl.macros) gets the workbook with xw.Book.caller() and calls the
' same services as the kam-xl command line.
Option Explicit

Sub KamRegrade()
    RunPython "import kam_xl.xl.macros as m; m.regrade()"
End Sub

Sub KamValidate()
    RunPython "import kam_xl.xl.macros as m; m.validate()"
End Sub

Sub KamReport()
    RunPython "import kam_xl.xl.macros as m; m.report()"
End Sub

Sub KamImport()
    RunPython "import kam_xl.xl.macros as m; m.import_archives()"
End Sub

Sub KamForm()
    RunPython "import kam_xl.xl.macros as m; m.form()"
End Sub

Sub KamCard()
    RunPython "import kam_xl.xl.macros as m; m.card()"
End Sub

Sub KamDistribute()
    RunPython "import kam_xl.xl.macros as m; m.distribute()"
End Sub

Sub KamCollect()
    RunPython "import kam_xl.xl.macros as m; m.collect()"
End Sub
