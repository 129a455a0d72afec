"""The web app's WSGI entry point in the cluster: the Django application behind WhiteNoise.

gunicorn serves the portal's and the admin's static files itself (no separate file server): the platform image
collects them at build time into MIP_STATIC_ROOT (Dockerfile, `collectstatic`), and WhiteNoise answers
`/static/...` from there (an hour of browser caching: the names are not hashed) before Django sees the request.
The platform's settings do not list WhiteNoise's middleware, so the chart wraps the WSGI application instead; if
the middleware is added later this wrapper still works (static requests are answered one layer earlier).
"""
import os

from whitenoise import WhiteNoise

from config.wsgi import application as django_application

application = WhiteNoise(django_application, root=os.environ["MIP_STATIC_ROOT"], prefix="/static/",
                         max_age=3600)
