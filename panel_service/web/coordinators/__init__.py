from flask import Blueprint

bp = Blueprint("coordinators", __name__)
