"""The script ``panel serve`` runs once per session (``assess-export serve`` and ``make serve``
serve it): it makes the page of ``dashboard.web.app``. Importing it makes nothing.

    panel serve dashboard/app.py --plugins dashboard.web.routes
"""

import panel as pn

from dashboard.web.app import serve_page

if pn.state.served:
    serve_page()
