"""The volunteer's pages: sign-up and verification, the profile wizard, the dashboard with
invitations, and control over contact and data. Every view commits explicitly; a view that
re-renders a form with errors writes nothing (P8)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from babel.dates import get_month_names
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as browser_session
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response as WerkzeugResponse

from panel_service.domain import gazetteer
from panel_service.domain.criteria import vocabulary as vocab
from panel_service.domain.geo import Home
from panel_service.domain.history import EARLIEST_YEAR
from panel_service.domain.profile import ProfileData, display_icd10, normalise_atc, normalise_icd10
from panel_service.domain.regions import region_name
from panel_service.extensions import db_session, limiter, settings
from panel_service.services import (
    account_mail,
    accounts,
    asking,
    consent,
    email_change,
    participants,
    personal_data,
    profiles,
    question_reminders,
    tokens,
    volunteers,
)
from panel_service.services import dashboard as volunteer_dashboard
from panel_service.services import invitations as invitation_service
from panel_service.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from panel_service.timeutil import panel_today
from panel_service.web.answers.views import REFUSAL_MESSAGES
from panel_service.web.auth import current, read_with_sign_in, role_required, sign_in, sign_out
from panel_service.web.dates import readable_date
from panel_service.web.ratelimits import account_key
from panel_service.web.transaction import discard, reads_only
from panel_service.web.volunteers.forms import (
    ANY_DISTANCE_KM,
    BIRTH_DATE_MESSAGES,
    PASSWORD_MESSAGES,
    AboutForm,
    AnswerForm,
    ChangeEmailForm,
    CodesForm,
    ConsentForm,
    DeleteForm,
    DetailsForm,
    EmptyForm,
    HomeForm,
    PauseForm,
    SignupForm,
    TravelForm,
    from_bool,
    yes_no,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from panel_service.models import Account, Participant

bp = Blueprint("volunteers", __name__)

F = TypeVar("F", bound=Callable[..., Any])
ViewResult = str | WerkzeugResponse | tuple[str, int]
SYSTEMS: dict[str, vocab.System] = {"conditions": "icd10", "medications": "atc"}
MAX_SELECTED_CODES = 50


def language() -> str:
    return str(get_locale() or "en")


def volunteer_view(view: F) -> F:
    """Logged in as a volunteer; the view receives its account and participant row."""

    @role_required("participant")
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current()
        account = user.account()
        try:
            participant = user.participant()  # read with the web session: no statement here
        except Forbidden:
            abort(403)
        return view(account, participant, *args, **kwargs)

    return cast(F, wrapper)


def verified_view(view: F) -> F:
    """As ``volunteer_view``, and the email address must be confirmed first."""

    @volunteer_view
    @wraps(view)
    def wrapper(account: Account, participant: Participant, *args: Any, **kwargs: Any) -> Any:
        if account.email_verified_at is None:
            flash(_("Please confirm your email address first: open the link we sent you."))
            return redirect(url_for("volunteers.dashboard"))
        return view(account, participant, *args, **kwargs)

    return cast(F, wrapper)


# --- sign-up and verification --------------------------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def signup() -> ViewResult:
    form = SignupForm()
    if form.validate_on_submit():
        session = db_session()
        try:
            # A savepoint, so that a refused sign-up leaves the request's transaction usable
            # for the email to the existing account below.
            with session.begin_nested():
                participants.sign_up(
                    session,
                    settings(),
                    email=form.email.data or "",
                    password=form.password.data or "",
                    name=form.name.data or "",
                    consent=bool(form.consent.data),
                    language=language(),
                )
        except ValidationFailed as exc:
            for name, problem in exc.fields.items():
                field = getattr(form, name)
                field.errors = [_message(name, problem)]
        except IntegrityError:
            # The same address signed up twice at the same moment: the other request made the
            # account, so this one is "already registered" and answers the same way.
            _notify_existing(form.email.data or "")
            return redirect(url_for("volunteers.check_email"))
        else:
            return redirect(url_for("volunteers.check_email"))
    status = 422 if form.errors else 200
    return render_template(
        "volunteers/signup.html", form=form, consent_version=volunteers.CONSENT_TEXT_VERSION
    ), status


def _notify_existing(email: str) -> None:
    from panel_service.services import accounts

    existing = accounts.find_account(db_session(), email)
    if existing is not None:
        account_mail.request_signup_existing(db_session(), existing.id)


def _message(field: str, problem: str) -> str:
    if field == "password" and problem in PASSWORD_MESSAGES:
        return str(PASSWORD_MESSAGES[problem])
    if field == "email":
        return _("Enter a valid email address, like name@example.com.")
    if field == "birth_date" and problem in BIRTH_DATE_MESSAGES:
        return str(BIRTH_DATE_MESSAGES[problem])
    if field == "name":
        return _("Enter your name.")
    return problem


@bp.get("/signup/check-email")
def check_email() -> str:
    return render_template("volunteers/check_email.html")


@bp.route("/verify/<token>", methods=["GET", "POST"])
def verify(token: str) -> ViewResult:
    """A GET only shows a button (mail scanners follow links); the POST confirms and signs in."""
    session = db_session()
    form = EmptyForm()
    try:
        row = tokens.peek(session, token, "verify_email")
    except tokens.TokenInvalid:
        return render_template("volunteers/link_invalid.html"), 410
    if request.method == "POST" and form.validate_on_submit():
        try:
            row = tokens.consume(session, token, "verify_email")
        except tokens.TokenInvalid:
            return render_template("volunteers/link_invalid.html"), 410
        account = accounts.get_account(session, row.account_id)
        if account is None:
            return render_template("volunteers/link_invalid.html"), 410
        participants.mark_verified(session, account)
        sign_in(account, request.user_agent.string)
        flash(_("Thank you, your email address is confirmed."))
        return redirect(url_for("volunteers.profile_about", wizard="1"))
    return render_template("volunteers/verify.html", form=form)


@bp.post("/verify/resend")
@limiter.limit("5 per hour")
@volunteer_view
def resend_verification(account: Account, participant: Participant) -> WerkzeugResponse:
    if EmptyForm().validate_on_submit() and account.email_verified_at is None:
        account_mail.request_verification(db_session(), account.id)
        flash(_("We have sent you a new link. Check your email."))
    return redirect(url_for("volunteers.dashboard"))


# --- dashboard and invitations -------------------------------------------------------------


@bp.get("/me")
@reads_only
@read_with_sign_in(
    volunteer_dashboard.SIGN_IN_READ, lambda: volunteer_dashboard.sign_in_read_params(settings())
)
@volunteer_view
def dashboard(account: Account, participant: Participant) -> str:
    session = db_session()
    # The profile, the contact state the questions' count needs, the studies recruiting today
    # and every invitation (``dashboard_facts``), read by the sign-in check's own statement:
    # one round trip for the page.
    facts = volunteer_dashboard.dashboard_facts(session, settings(), participant.id, current().read)
    stored, state, recruiting = facts.profile, facts.state, facts.recruiting
    has_profile = stored is not None
    data = stored or ProfileData()
    invitations, invited = volunteer_dashboard.dashboard_invitations(
        session,
        settings(),
        participant.id,
        data,
        language=language(),
        rows=facts.invitations,
        memo=facts.memo,
    )
    open_sections = (
        volunteer_dashboard.open_questions(session, settings(), participant.id, data, recruiting, facts.memo)
        if has_profile
        else []
    )
    response = render_template(
        "volunteers/dashboard.html",
        account=account,
        participant=participant,
        invitations=invitations,
        has_profile=has_profile,
        open_sections=open_sections,
        questions_to_ask=asking.count_to_ask(
            session, settings(), participant.id, data, state, recruiting, invited, facts.memo
        )
        if has_profile
        else 0,
        # The same test as ``volunteers.active_consent`` (contact consent, not withdrawn), read
        # with the profile: the page only says whether there is one.
        consent=state.consent_active,
        paused=volunteers.is_paused(settings(), participant),
        region_name=region_name,
        language=language(),
        # Shown (and its CSRF field built) only while the address is unconfirmed.
        resend_form=EmptyForm() if account.email_verified_at is None else None,
    )
    return response


@bp.route("/me/invitations/<int:study_id>", methods=["GET", "POST"])
@verified_view
def invitation(account: Account, participant: Participant, study_id: int) -> ViewResult:
    """One of the volunteer's own invitations: what will be shared with whom, and the answer.
    Anyone else's invitation is a 404 (P7): the lookup is keyed by the caller's participant."""
    session = db_session()
    view = volunteer_dashboard.invitation_view(
        session, settings(), participant.id, study_id, language=language()
    )
    if view is None:
        abort(404)
    form = AnswerForm()
    if request.method == "POST" and form.validate_on_submit():
        answer = form.answer.data
        if answer not in ("interested", "not_interested"):
            abort(400)
        try:
            invitation_service.record_answer(
                session, study_id=study_id, participant_id=participant.id, answer=answer
            )
        except invitation_service.AnswerRefused as exc:
            discard()
            flash(str(REFUSAL_MESSAGES[exc.reason]))
            return redirect(url_for("volunteers.invitation", study_id=study_id))
        except (NotFound, Conflict):
            discard()
            flash(_("You have already answered this invitation."))
            return redirect(url_for("volunteers.dashboard"))
        if answer == "interested":
            flash(
                _(
                    "Thank you. We have shared your contact details with %(organisation)s; "
                    "they will contact you about the study.",
                    organisation=view.organisation,
                )
            )
        else:
            flash(_("Thank you. You will not hear more about this study."))
        return redirect(url_for("volunteers.dashboard"))
    refusal = None
    if view.response is None:
        refusal = invitation_service.answer_refusal_now(
            session, study_id=study_id, participant_id=participant.id
        )
    return render_template(
        "volunteers/invitation.html",
        invitation=view,
        refusal=REFUSAL_MESSAGES[refusal] if refusal else None,
        account=account,
        participant=participant,
        form=form,
        withdraw_form=EmptyForm(),
        region_name=region_name,
        language=language(),
    )


@bp.post("/me/invitations/<int:study_id>/withdraw")
@volunteer_view
def withdraw_interest(account: Account, participant: Participant, study_id: int) -> WerkzeugResponse:
    """Take back an "interested" answer: the team is told, the volunteer leaves its list."""
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("volunteers.invitation", study_id=study_id))
    try:
        invitation_service.withdraw_interest(db_session(), study_id=study_id, participant_id=participant.id)
    except NotFound:
        discard()
        abort(404)
    flash(
        _(
            "You have taken back your answer. We have told the study team not to contact you "
            "and to delete your details."
        )
    )
    return redirect(url_for("volunteers.invitation", study_id=study_id))


# --- the profile ---------------------------------------------------------------------------


@bp.get("/me/profile")
@verified_view
def profile(account: Account, participant: Participant) -> str:
    session = db_session()
    data = profiles.profile_data(session, participant.id)
    return render_template(
        "volunteers/profile.html",
        data=data,
        has_profile=profiles.has_profile(session, participant.id),
        conditions=_terms("icd10", data.conditions or ()),
        medications=_terms("atc", data.medications or ()),
        region_name=region_name,
        home_text=home_text,
        travel=travel_text(profiles.travel_limit(session, participant.id)),
        language=language(),
    )


@bp.route("/me/profile/about", methods=["GET", "POST"])
@verified_view
def profile_about(account: Account, participant: Participant) -> ViewResult:
    session = db_session()
    wizard = request.values.get("wizard") == "1"
    if request.method == "GET":
        data = profiles.profile_data(session, participant.id)
        form = AboutForm(
            language=language(),
            formdata=None,
            data={
                "birth_date": data.birth_date.isoformat() if data.birth_date else "",
                "sex": data.sex,
                "region": data.region or "",
                "height_cm": _number(data.height_cm),
                "weight_kg": _number(data.weight_kg),
                "smoker": from_bool(data.smoker),
                "pregnant": None if data.sex == "male" else from_bool(data.pregnant),
                "wizard": "1" if wizard else "",
            },
        )
        return render_template("volunteers/profile_about.html", form=form, wizard=wizard)
    form = AboutForm(language=language())
    if form.validate_on_submit():
        birth_date = form.birth_date.value
        problem = profiles.validate_birth_date(settings(), birth_date) if birth_date else None
        if problem:
            form.birth_date.errors = [str(BIRTH_DATE_MESSAGES[problem])]
        else:
            profiles.save_about(
                session,
                settings(),
                participant,
                birth_date=birth_date,
                sex=form.sex.data or None,
                region=form.region.data or None,
                height_cm=form.height_cm.number,
                weight_kg=form.weight_kg.number,
                smoker=yes_no(form.smoker.data),
                pregnant=yes_no(form.pregnant.data),
            )
            if wizard:
                return redirect(url_for("volunteers.profile_home", wizard="1"))
            flash(_("Your answers are saved."))
            return redirect(url_for("volunteers.profile"))
    return render_template("volunteers/profile_about.html", form=form, wizard=wizard), 422


def home_text(home: Home | None) -> str:
    """The home as the profile shows it: the town in the page's language, or coordinates for a
    home given without one."""
    return gazetteer.home_text(home, language())


# --- where: the home town and how far one would travel (issue 13 item 4) --------------------


@bp.route("/me/profile/home", methods=["GET", "POST"])
@verified_view
def profile_home(account: Account, participant: Participant) -> ViewResult:
    """The town where the volunteer lives, from the gazetteer, without JavaScript: type a town
    and search, choose it from the matches, save (GOV.UK's "find an address"). With JavaScript
    the matches appear as one types. "Skip for now" in the wizard; "Remove my town" outside it."""
    session = db_session()
    wizard = request.values.get("wizard") == "1"
    stored = profiles.profile_data(session, participant.id).home
    form = HomeForm()
    if request.method == "GET":
        form.wizard.data = "1" if wizard else ""
        form.town.data = ""
        return _render_home(form, [], stored, wizard, 200)
    if not form.validate_on_submit():
        return _render_home(form, [], stored, wizard, 422)
    action = request.form.get("action", "save")
    if action == "skip" and wizard:
        return redirect(url_for("volunteers.profile_travel", wizard="1"))
    if action == "remove":
        profiles.save_home(session, participant, None)
        flash(_("We have removed your town."))
        return redirect(url_for("volunteers.profile"))
    if action == "search":
        results = _search_places(form)
        return _render_home(form, results, stored, wizard, 200 if results else 422)
    if action != "save":
        abort(400)
    home, results = _chosen_home(form)
    if home is None:
        return _render_home(form, results, stored, wizard, 422)
    profiles.save_home(session, participant, home)
    if wizard:
        return redirect(url_for("volunteers.profile_travel", wizard="1"))
    flash(_("Your town is saved: %(town)s.", town=gazetteer.home_text(home, language())))
    return redirect(url_for("volunteers.profile"))


def _search_places(form: HomeForm) -> list[gazetteer.Place]:
    """The matches for the typed town; an empty box or no match is a field error."""
    text = (form.town.data or "").strip()
    if not text:
        form.town.errors = [_("Enter the name of the town where you live.")]
        return []
    results = gazetteer.search(text, limit=10)
    if not results:
        form.town.errors = [
            _(
                "We could not find a town called “%(town)s”. Check the spelling, or try the nearest larger town.",
                town=text[:100],
            )
        ]
    return results


def _chosen_home(form: HomeForm) -> tuple[Home | None, list[gazetteer.Place]]:
    """The home to save: the chosen match, else the typed town when it names one town; else
    None, with the field's error set and the matches to choose from."""
    chosen = (form.place.data or "").strip()
    if chosen:
        place = gazetteer.by_id(int(chosen)) if chosen.isdigit() and len(chosen) < 12 else None
        if place is not None:
            return Home(place.lat, place.lon, place.label, place.geonameid), []
        form.place.errors = [_("Choose your town from the list.")]
        return None, _search_places(form) if form.town.data else []
    text = (form.town.data or "").strip()
    if not text:
        form.town.errors = [_("Enter the name of the town where you live.")]
        return None, []
    named = _named_place(text)
    if named is not None:
        return Home(named.lat, named.lon, named.label, named.geonameid), []
    try:
        return gazetteer.resolve_home(text), []
    except gazetteer.HomeNotFound:
        pass
    results = _search_places(form)
    if results:
        form.place.errors = [_("Choose your town from the list.")]
    return None, results


def _named_place(text: str) -> gazetteer.Place | None:
    """A town written as the picker shows it ("København, Danmark", "Aarhus, Denmark")."""
    name = text.rpartition(",")[0] or text
    wanted = gazetteer.fold(text)
    for place in gazetteer.search(name, limit=10):
        if wanted in {gazetteer.fold(gazetteer.place_text(place, lang)) for lang in ("en", "da")}:
            return place
    return None


def _render_home(
    form: HomeForm, results: list[gazetteer.Place], stored: Home | None, wizard: bool, status: int
) -> tuple[str, int]:
    return (
        render_template(
            "volunteers/profile_home.html",
            form=form,
            results=[
                {"id": str(place.geonameid), "label": gazetteer.place_text(place, language())}
                for place in results
            ],
            stored=gazetteer.home_text(stored, language()),
            wizard=wizard,
        ),
        status,
    )


@bp.get("/places/search")
@limiter.limit("120 per minute")
def place_search() -> Response:
    """Type-ahead for the town page (public data: the gazetteer ships with Panel)."""
    query = request.args.get("q", "").strip()[:100]
    places = gazetteer.search(query, limit=10) if len(query) >= 2 else []
    return jsonify(
        items=[
            {"id": str(place.geonameid), "label": gazetteer.place_text(place, language())} for place in places
        ]
    )


@bp.route("/me/profile/travel", methods=["GET", "POST"])
@verified_view
def profile_travel(account: Account, participant: Participant) -> ViewResult:
    """How far would you travel to a study visit: radios writing the ``max_travel_km`` answer,
    which keeps the volunteer from invitations to studies whose every site is farther (§4a)."""
    session = db_session()
    wizard = request.values.get("wizard") == "1"
    current = profiles.travel_limit(session, participant.id)
    has_home = profiles.profile_data(session, participant.id).home is not None
    form = TravelForm(current=current)
    if request.method == "GET":
        form.wizard.data = "1" if wizard else ""
        form.distance.data = str(current) if current is not None else None
        return _render_travel(form, wizard, has_home, 200)
    if not form.validate_on_submit():
        return _render_travel(form, wizard, has_home, 422)
    action = request.form.get("action", "save")
    if action == "skip" and wizard:
        return redirect(url_for("volunteers.profile_codes", section="conditions", wizard="1"))
    if action != "save":
        abort(400)
    offered = {choice.value for choice in form.distance.choices}
    chosen = form.distance.data or ""
    if chosen not in offered:
        form.distance.errors = [_("Choose how far you would travel to a study visit.")]
        return _render_travel(form, wizard, has_home, 422)
    profiles.save_travel_limit(session, settings(), participant, int(chosen))
    if wizard:
        return redirect(url_for("volunteers.profile_codes", section="conditions", wizard="1"))
    flash(_("Your answers are saved."))
    return redirect(url_for("volunteers.profile"))


def _render_travel(form: TravelForm, wizard: bool, has_home: bool, status: int) -> tuple[str, int]:
    return render_template(
        "volunteers/profile_travel.html", form=form, wizard=wizard, has_home=has_home
    ), status


def travel_text(km: int | None) -> str:
    """The travel answer in words, for the profile page."""
    if km is None:
        return ""
    if km >= ANY_DISTANCE_KM:
        return _("Any distance")
    return _("Up to %(km)s km", km=km)


def _number(value: float | None) -> str:
    """One decimal at most, with the decimal comma in Danish (the form reads both)."""
    if value is None:
        return ""
    shown = f"{value:.1f}".removesuffix(".0")
    return shown.replace(".", ",") if language() == "da" else shown


def _terms(system: vocab.System, codes: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    terms = []
    for code in codes:
        shown = display_icd10(code) if system == "icd10" else code
        term = vocab.lookup(system, code) or vocab.nearest_term(system, code)
        terms.append({"code": shown, "name": term.plain_name_in(language()) if term else shown})
    return terms


def _normalise(system: vocab.System, raw: str, stored: set[str]) -> str | None:
    """A ticked code, normalised; None when malformed, or when neither in the vocabulary the form
    offers nor already in the profile (an import or the API may store any well-formed code, which
    the volunteer must be able to keep while editing the list)."""
    try:
        code = normalise_icd10(raw) if system == "icd10" else normalise_atc(raw)
    except ValueError:
        return None
    return code if code in stored or vocab.lookup(system, code) is not None else None


@bp.route("/me/profile/<any(conditions, medications):section>", methods=["GET", "POST"])
@verified_view
def profile_codes(account: Account, participant: Participant, section: str) -> ViewResult:
    """Conditions or medications without JavaScript: search, tick, save; or "I have none";
    or "Skip for now", which leaves an unanswered list unanswered."""
    session = db_session()
    system = SYSTEMS[section]
    wizard = request.values.get("wizard") == "1"
    form = CodesForm()
    if request.method == "GET":
        form.wizard.data = "1" if wizard else ""
        selected = profiles.stored_codes(session, participant.id, system)
        return _render_codes(section, form, selected, [], wizard, 200)
    if not form.validate_on_submit():
        return _render_codes(section, form, [], [], wizard, 422)
    selected = _ticked_codes(form, system, set(profiles.stored_codes(session, participant.id, system)))
    if form.codes.errors:
        return _render_codes(section, form, selected, [], wizard, 422)
    action = request.form.get("action", "save")
    if action == "search":
        return _render_codes(section, form, selected, _search_codes(form, system, selected), wizard, 200)
    if action == "save" and not selected:
        form.codes.errors = [_("Tick at least one, or choose “I have none”.")]
        return _render_codes(section, form, selected, [], wizard, 422)
    _save_codes(participant, system, action, selected)
    return _after_codes(section, action, wizard)


def _ticked_codes(form: CodesForm, system: vocab.System, stored: set[str]) -> list[str]:
    """The ticked codes, normalised, each once; an unknown code or too many is a field error."""
    selected: list[str] = []
    for raw in request.form.getlist("codes")[: MAX_SELECTED_CODES + 1]:
        code = _normalise(system, raw, stored)
        if code is None:
            form.codes.errors = [_("%(code)s is not a code we know. Search for it by name.", code=raw[:20])]
        elif code not in selected:
            selected.append(code)
    if len(selected) > MAX_SELECTED_CODES:
        form.codes.errors = [_("Choose at most %(n)d.", n=MAX_SELECTED_CODES)]
    return selected


def _search_codes(form: CodesForm, system: vocab.System, selected: list[str]) -> list[vocab.Term]:
    """Terms for the search box, without those already ticked; an empty box or no hit is a
    field error."""
    query = (form.q.data or "").strip()
    if not query:
        form.q.errors = [_("Type a word or a code to search for.")]
        return []
    results = [
        term
        for term in vocab.search(query, limit=15, system=system, language=language())
        if vocab.index_key(system, term.code) not in selected
    ]
    if not results:
        form.q.errors = [_("Nothing found for “%(q)s”. Try other words or a code.", q=query)]
    return results


def _save_codes(participant: Participant, system: vocab.System, action: str, selected: list[str]) -> None:
    """``save`` the ticked codes, ``none`` for "I have none", ``skip`` keeps what is stored."""
    if action == "save":
        profiles.save_codes(db_session(), participant, system=system, codes=selected)
    elif action == "none":
        profiles.save_codes(db_session(), participant, system=system, codes=[])
    elif action != "skip":
        abort(400)


def _after_codes(section: str, action: str, wizard: bool) -> WerkzeugResponse:
    """The wizard goes on from conditions to medications, then to the dashboard; otherwise
    back to the profile."""
    if wizard:
        if section == "conditions":
            return redirect(url_for("volunteers.profile_codes", section="medications", wizard="1"))
        flash(_("Thank you, your profile is saved. You can change it at any time."))
        return redirect(url_for("volunteers.dashboard"))
    if action != "skip":
        flash(_("Your answers are saved."))
    return redirect(url_for("volunteers.profile"))


def _render_codes(
    section: str,
    form: CodesForm,
    selected: list[str],
    results: list[vocab.Term],
    wizard: bool,
    status: int,
) -> tuple[str, int]:
    system = SYSTEMS[section]
    return (
        render_template(
            "volunteers/profile_codes.html",
            section=section,
            system=system,
            form=form,
            selected=_terms(system, selected),
            results=[{"code": term.code, "name": term.plain_name_in(language())} for term in results],
            wizard=wizard,
        ),
        status,
    )


# --- histories: "still have it? since when?" (issue 13 item 2) ------------------------------

HISTORY_PREFIX: dict[vocab.System, str] = {"icd10": "c", "atc": "m"}
HISTORY_STATUSES = ("current", "past", "")


@dataclass
class HistoryRow:
    """One condition or medicine on the history page, with what the form shows and its errors."""

    system: vocab.System
    code: str
    name: str
    key: str
    status: str = ""
    month: str = ""
    year: str = ""
    errors: list[str] = field(default_factory=list)


def _history_rows(session: Session, participant: Participant) -> list[HistoryRow]:
    rows = []
    for system in ("icd10", "atc"):
        entries = profiles.stored_entries(session, participant.id, system)
        for entry, term in zip(entries, _terms(system, [entry.code for entry in entries]), strict=True):
            year, _sep, month = (entry.since or "").partition("-")
            rows.append(
                HistoryRow(
                    system=system,
                    code=term["code"],
                    name=term["name"],
                    key=f"{HISTORY_PREFIX[system]}-{entry.code}",
                    status=entry.status or "",
                    month=str(int(month[:2])) if month else "",
                    year=year,
                )
            )
    return rows


def _read_history(row: HistoryRow, today: dt.date) -> tuple[str | None, str | None]:
    """The row's answer from the posted form: (status, since as YYYY or YYYY-MM); problems go
    to ``row.errors`` in words, each saying what to do."""
    row.status = request.form.get(f"status-{row.key}", "")
    row.month = request.form.get(f"month-{row.key}", "").strip()[:2]
    row.year = request.form.get(f"year-{row.key}", "").strip()[:8]
    status = row.status if row.status in ("current", "past") else None
    if row.status not in HISTORY_STATUSES:
        row.status = ""
    month = int(row.month) if row.month.isdigit() and 1 <= int(row.month) <= 12 else None
    if row.month and month is None:
        row.errors.append(_("Choose a month from the list, or leave it empty."))
        return status, None
    if not row.year:
        if month is not None:
            row.errors.append(_("Enter the year as well as the month, for example 2019."))
        return status, None
    if not (row.year.isdigit() and len(row.year) == 4):
        row.errors.append(_("Enter the year as 4 digits, for example 2019."))
        return status, None
    year = int(row.year)
    if year < EARLIEST_YEAR:
        row.errors.append(_("Enter a year after %(year)d.", year=EARLIEST_YEAR))
        return status, None
    if (year, month or 1) > (today.year, today.month):
        row.errors.append(_("The date must be in the past."))
        return status, None
    return status, f"{year:04d}-{month:02d}" if month else f"{year:04d}"


@bp.route("/me/profile/history", methods=["GET", "POST"])
@verified_view
def profile_history(account: Account, participant: Participant) -> ViewResult:
    """For each condition and medicine: still have it / take it, and since when (a year, or a
    month and year), all optional, on one page, without JavaScript."""
    session = db_session()
    rows = _history_rows(session, participant)
    form = EmptyForm()
    if request.method == "GET":
        return render_template("volunteers/profile_history.html", form=form, rows=rows, months=_months())
    if not form.validate_on_submit():
        return render_template("volunteers/profile_history.html", form=form, rows=rows, months=_months()), 422
    today = panel_today(settings())
    answers: dict[tuple[str, str], tuple[str | None, str | None]] = {
        (row.system, row.key.split("-", 1)[1]): _read_history(row, today) for row in rows
    }
    if not any(row.errors for row in rows):
        try:
            profiles.save_histories(session, participant, answers)
        except ValidationFailed as failed:
            for row in rows:
                if f"{row.system}:{row.key.split('-', 1)[1]}" in failed.fields:
                    row.errors.append(_("The date must be before it ended, or answer “Yes” above."))
        else:
            flash(_("Your answers are saved."))
            return redirect(url_for("volunteers.profile"))
    return render_template("volunteers/profile_history.html", form=form, rows=rows, months=_months()), 422


def _months() -> list[tuple[str, str]]:
    """The month choices, named in the page's language ("April" / "april")."""
    names = get_month_names("wide", locale=_babel_locale())
    return [(str(number), str(names[number])) for number in range(1, 13)]


def _babel_locale() -> str:
    return "da_DK" if language() == "da" else "en_GB"


@bp.get("/vocabulary/search")
@limiter.limit("120 per minute")
def vocabulary_search() -> Response:
    """Type-ahead for the profile form (public data: the vocabularies ship with Panel)."""
    system = request.args.get("system", "")
    query = request.args.get("q", "").strip()[:100]
    if system not in ("icd10", "atc"):
        return cast(
            Response, (jsonify(error={"code": "bad_request", "fields": {"system": "icd10 or atc"}}), 400)
        )
    terms = (
        vocab.search(query, limit=15, system=cast(vocab.System, system), language=language()) if query else []
    )
    return jsonify(
        items=[
            {"code": term.code, "name": term.plain_name_in(language()), "official": term.name}
            for term in terms
        ]
    )


# --- contact and consent -------------------------------------------------------------------


@bp.get("/me/contact")
@volunteer_view
def contact(account: Account, participant: Participant) -> str:
    return _render_contact(participant, PauseForm(), ConsentForm())


def _render_contact(participant: Participant, pause_form: PauseForm, consent_form: ConsentForm) -> str:
    return render_template(
        "volunteers/contact.html",
        participant=participant,
        account=current().account(),
        consent=volunteers.active_consent(db_session(), participant.id),
        paused=volunteers.is_paused(settings(), participant),
        pause_form=pause_form,
        consent_form=consent_form,
        action_form=EmptyForm(),
        consent_version=volunteers.CONSENT_TEXT_VERSION,
        today=panel_today(settings()),
        reminders_on=question_reminders.reminders_on(db_session(), participant.id),
        reminder_months=max(1, round(settings().question_reminder_days / 30.44)),
    )


@bp.post("/me/contact/pause")
@volunteer_view
def pause(account: Account, participant: Participant) -> ViewResult:
    form = PauseForm()
    session = db_session()
    if form.validate_on_submit() and form.until.value is not None:
        try:
            volunteers.pause_contact(session, settings(), participant, form.until.value)
        except ValidationFailed as exc:
            discard()
            problem = exc.fields.get("until", "")
            form.until.errors = [
                _("Choose a date after today.")
                if problem == "not_future"
                else _("Choose a date within two years.")
            ]
        else:
            flash(_("We will not contact you before %(date)s.", date=_format_date(form.until.value)))
            return redirect(url_for("volunteers.contact"))
    return _render_contact(participant, form, ConsentForm()), 422


def _format_date(value: Any) -> str:
    return readable_date(value)


@bp.post("/me/contact/resume")
@volunteer_view
def resume(account: Account, participant: Participant) -> WerkzeugResponse:
    if EmptyForm().validate_on_submit():
        volunteers.resume_contact(db_session(), settings(), participant)
        flash(_("Contact is on again."))
    return redirect(url_for("volunteers.contact"))


@bp.post("/me/contact/question-reminders")
@volunteer_view
def question_reminder_preference(account: Account, participant: Participant) -> WerkzeugResponse:
    """Turn the "questions that matter" reminder email off or on again (issue 13 item 1)."""
    if EmptyForm().validate_on_submit():
        wanted = request.form.get("wanted") == "1"
        question_reminders.set_reminders(db_session(), participant.id, wanted)
        flash(
            _("We will remind you about questions that could match you to studies.")
            if wanted
            else _("We will not send you reminders about questions any more.")
        )
    return redirect(url_for("volunteers.contact") + "#reminders-title")


@bp.post("/me/consent/withdraw")
@volunteer_view
def withdraw(account: Account, participant: Participant) -> WerkzeugResponse:
    if EmptyForm().validate_on_submit():
        consent.withdraw_contact_consent(db_session(), participant.id, via=consent.VIA_VOLUNTEER_PAGE)
        flash(_("You have withdrawn your consent. We will not contact you about studies."))
    return redirect(url_for("volunteers.contact"))


@bp.post("/me/consent/give")
@volunteer_view
def give(account: Account, participant: Participant) -> ViewResult:
    form = ConsentForm()
    if form.validate_on_submit():
        volunteers.give_consent(db_session(), participant)
        flash(_("Thank you. We may now contact you about approved studies that fit your profile."))
        return redirect(url_for("volunteers.contact"))
    return _render_contact(participant, PauseForm(), form), 422


@bp.route("/me/details", methods=["GET", "POST"])
@volunteer_view
def details(account: Account, participant: Participant) -> ViewResult:
    form = DetailsForm(
        data={"name": participant.name, "phone": participant.phone or ""} if request.method == "GET" else None
    )
    if request.method == "POST":
        if form.validate_on_submit():
            participants.update_details(
                db_session(), participant, name=form.name.data or "", phone=form.phone.data
            )
            flash(_("Your details are saved."))
            return redirect(url_for("volunteers.contact"))
        return render_template("volunteers/details.html", form=form, account=account), 422
    return render_template("volunteers/details.html", form=form, account=account)


# --- changing the email address (issue 13 item 7) -----------------------------------------


@bp.route("/me/email", methods=["GET", "POST"])
@limiter.limit("5 per hour", methods=["POST"])
@limiter.limit("10 per day", methods=["POST"], key_func=account_key)
@volunteer_view
def change_email(account: Account, participant: Participant) -> ViewResult:
    """A new address: mailed a link, taken only when the link is used. An address that has an
    account already is answered as any other (the owner is mailed instead)."""
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            address = email_change.request_change(
                db_session(), settings(), account, form.email.data or "", form.password.data or ""
            )
        except ValidationFailed as exc:
            discard()
            if exc.fields.get("email") == "same":
                form.email.errors = [_("This is already your email address. Enter a new one.")]
            elif "email" in exc.fields:
                form.email.errors = [_("Enter a valid email address, like name@example.com.")]
            if "password" in exc.fields:
                form.password.errors = [_("The password is not correct.")]
        else:
            browser_session["email_change_to"] = address
            return redirect(url_for("volunteers.change_email_sent"))
    status = 422 if form.errors else 200
    return render_template("volunteers/email_change.html", form=form, account=account), status


@bp.get("/me/email/sent")
@volunteer_view
def change_email_sent(account: Account, participant: Participant) -> ViewResult:
    address = browser_session.get("email_change_to")
    if not isinstance(address, str):
        return redirect(url_for("volunteers.contact"))
    return render_template("volunteers/email_change_sent.html", address=address, account=account)


@bp.route("/me/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str) -> ViewResult:
    """A GET only shows a button (mail scanners follow links); the POST takes the new address.
    No sign-in needed: the link proves the mailbox, the password was given when asking."""
    session = db_session()
    form = EmptyForm()
    try:
        address = email_change.peek(session, token)
    except tokens.TokenInvalid:
        return render_template("volunteers/link_invalid.html"), 410
    if request.method == "POST" and form.validate_on_submit():
        try:
            with session.begin_nested():
                account = email_change.confirm_change(session, token)
        except tokens.TokenInvalid:
            discard()
            return render_template("volunteers/link_invalid.html"), 410
        except (email_change.AddressTaken, IntegrityError):
            discard()
            return render_template("volunteers/email_change_taken.html"), 409
        browser_session.pop("email_change_to", None)
        flash(_("Your email address is now %(email)s.", email=address))
        signed_in = current().is_authenticated and current().account_id == account.id
        return redirect(url_for("volunteers.contact") if signed_in else url_for("accounts.login"))
    return render_template("volunteers/email_change_confirm.html", form=form, address=address)


# --- my data: download and erasure ---------------------------------------------------------


@bp.route("/me/data", methods=["GET", "POST"])
@volunteer_view
def my_data(account: Account, participant: Participant) -> ViewResult:
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        session = db_session()
        data = personal_data.export_data(session, account, participant)
        body = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False)
        return Response(
            body,
            mimetype="application/json",
            headers={"Content-Disposition": 'attachment; filename="panel-my-data.json"'},
        )
    return render_template("volunteers/my_data.html", form=form)


@bp.post("/me/data/page")
@volunteer_view
def my_data_page(account: Account, participant: Participant) -> ViewResult:
    """The same export as the JSON download, as a page to read or print (issue 13 item 7); a POST
    like the download, because showing it is a disclosure that the audit records."""
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("volunteers.my_data"))
    data = personal_data.export_data(db_session(), account, participant)
    interested = [item for item in data["invitations"] if item["response"] == "interested"]
    return render_template(
        "volunteers/my_data_page.html",
        data=data,
        interested=interested,
        conditions=_entries_with_names(db_session(), participant, "icd10"),
        medications=_entries_with_names(db_session(), participant, "atc"),
        region_name=region_name,
        language=language(),
    )


def _entries_with_names(
    session: Session, participant: Participant, system: vocab.System
) -> list[dict[str, str]]:
    """Each stored condition or medicine by its plain name and code, with its history as given."""
    entries = profiles.stored_entries(session, participant.id, system)
    named = _terms(system, [entry.code for entry in entries])
    for term, entry in zip(named, entries, strict=True):
        term["status"] = entry.status or ""
        term["since"] = entry.since or ""
    return named


@bp.route("/me/delete", methods=["GET", "POST"])
@volunteer_view
def delete_account(account: Account, participant: Participant) -> ViewResult:
    form = DeleteForm()
    if request.method == "POST" and form.validate_on_submit():
        session = db_session()
        try:
            personal_data.erase(session, settings(), account, form.password.data or "")
        except ValidationFailed:
            discard()
            form.password.errors = [_("The password is not correct.")]
        else:
            sign_out()
            flash(_("Your account and your health profile are deleted."))
            return redirect(url_for("public.home"))
        return render_template("volunteers/delete.html", form=form), 422
    status = 422 if form.errors else 200
    return render_template("volunteers/delete.html", form=form), status
