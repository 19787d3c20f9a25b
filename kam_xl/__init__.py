"""kam_xl — key-account management (大客户管理) in an Excel workbook."""
__version__ = "0.1.0"
