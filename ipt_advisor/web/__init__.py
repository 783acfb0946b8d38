"""The clinicians' local web app (``ipt-advisor serve``): the intake form generated from the
intake schema, the report, its print view and the client handout, sign-off, case list and
case history, over the database in ``ipt_advisor.store``.

``app`` (the Flask factory), ``security`` (host allow-list, token to cookie, CSRF, headers),
``form`` (the form from the schema), ``views`` (the pages), ``chart`` (the PHQ-9 chart's
geometry), ``server`` (waitress, worker processes, clean shutdown). Templates are in ``templates/web/``.
"""
