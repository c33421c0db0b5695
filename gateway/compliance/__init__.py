"""``overstap compliance``: a scenario set a vendor's system must pass, as sender or as receiver (issue 17).

A municipality can ask a vendor to pass it before go-live; a vendor's CI can run it (JUnit XML).
"""
