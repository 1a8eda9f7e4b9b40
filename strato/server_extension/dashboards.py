"""Dashboards as JupyterLab tabs (filled in below)."""


def setup(serverapp, manager) -> None:
    pass
