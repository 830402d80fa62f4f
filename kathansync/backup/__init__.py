"""BACKUP: the remote as it was before each apply, the history of backups, and the way back.

files.py     where backups live, writing one (atomic, 0600) before the first request,
             recording what the apply created, retention, listing and finding by id
gitinfo.py   the commit and branch of the repository, read from .git without running git
restore.py   planning a restore (pure): a backup against the remote as it is now
restoring.py a restore run against Run/ApiAccess: fetch, plan, re-check, saved restore plans
"""
