"""Conversation tests (`kathansync test`, `apply --test`): suites of turns sent through POST /chat.

suite.py     LOAD: discover suites, ${VAR}, validate with file:line:column, before any request
select.py    which suites run, against which assistant ids (--target, the changed ones)
expect.py    EXPECT (pure): one answer against a turn's expectations; pass-rate arithmetic
runner.py    RUN: every run a new conversation, concurrently within the client's parallelism
report.py    REPORT (pure): the versioned dict, text and markdown
junit.py     REPORT for CI (pure): JUnit XML, GitHub annotations
"""
