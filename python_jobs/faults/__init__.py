"""Faults karl did not raise itself (a full disk, a denied permission, Ctrl-C, a bug): what the
CLI boundary says about them (sentences.py), where their traceback goes (error_log.py), what karl
was doing when they struck (activity.py), the temporary files they leave (tempfiles.py), and
SIGTERM handled as Ctrl-C (signals.py)."""
