"""Human names of the services' codes (statuses, responses, dimensions, history fields).

Marked with N_ so that Babel extracts them; templates translate them with `_(label(...))`.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Babel's conventional marker: extracted for translation, translated later (in the template)."""
    return message


LABELS: dict[str, str] = {
    # implementation status
    "not_started": N_("Not started"),
    "planned": N_("Planned"),
    "in_progress": N_("In progress"),
    "partially_implemented": N_("Partially implemented"),
    "implemented": N_("Implemented"),
    "not_implemented": N_("Not implemented"),
    "overtaken_by_events": N_("Overtaken by events"),
    # response
    "pending": N_("Pending"),
    "accepted": N_("Accepted"),
    "partially_accepted": N_("Partially accepted"),
    "rejected": N_("Rejected"),
    "noted": N_("Noted"),
    # verification
    "unverified": N_("Unverified"),
    "verified": N_("Verified"),
    "contested": N_("Contested"),
    # dimensions of the Cluster Initiative Model
    "setting": N_("Cluster setting"),
    "objectives": N_("Cluster objectives"),
    "processes": N_("Processes"),
    # history fields
    "opened": N_("Opened"),
    "response": N_("Response"),
    "implementation_status": N_("Implementation status"),
    "responsible_body": N_("Responsible body"),
    "owner": N_("Owner"),
    "planned_completion": N_("Planned completion"),
    "notes": N_("Notes"),
    "evidence": N_("Evidence"),
    "verification": N_("Verification"),
    "due_date": N_("Due date"),
    "recommendation_version": N_("Recommendation version"),
    "closed": N_("Closed"),
    # event types (My notifications), in the order the page lists them: seminar, recommendation,
    # follow-up, inter-cluster link (EVENT_ORDER)
    "seminar.scheduled": N_("A seminar is scheduled"),
    "seminar.held": N_("A seminar is held"),
    "seminar.report_published": N_("A seminar report is published"),
    "recommendation.issued": N_("A recommendation is issued"),
    "recommendation.revised": N_("A recommendation is revised"),
    "recommendation.withdrawn": N_("A recommendation is withdrawn"),
    "followup.opened": N_("A follow-up is opened"),
    "followup.response_recorded": N_("A city records its response"),
    "followup.status_changed": N_("An implementation status changes"),
    "followup.evidence_added": N_("Evidence is added"),
    "followup.verified": N_("The lead partner verifies or contests"),
    "followup.due_soon": N_("A follow-up is due soon"),
    "followup.overdue": N_("A follow-up is overdue"),
    "cluster_link.proposed": N_("A link between clusters is proposed"),
    "cluster_link.established": N_("A link between clusters is established"),
    "cluster_link.activated": N_("A link between clusters becomes active"),
    "cluster_link.ended": N_("A link between clusters ends"),
    "cluster_link.cancelled": N_("A link between clusters is cancelled"),
    # seminar stages and recommendation stages and actions (the lead partner's pages)
    "scheduled": N_("Scheduled"),
    "held": N_("Held"),
    "report_published": N_("Report published"),
    "draft": N_("Draft"),
    "issued": N_("Issued"),
    "revised": N_("Revised"),
    "withdrawn": N_("Withdrawn"),
    "drafted": N_("Drafted"),
    "title": N_("Title"),
    "text": N_("Text"),
    "dimension": N_("Dimension"),
    # a recommendation's priority (the import preview)
    "high": N_("High"),
    "medium": N_("Medium"),
    "low": N_("Low"),
    "priority": N_("Priority"),
    # delivery modes
    "immediate": N_("Immediately"),
    "digest": N_("Daily digest"),
    # roles
    "admin": N_("Administrator"),
    "lead_partner": N_("Lead partner"),
    "city_official": N_("City official"),
    "integration": N_("Integration"),
}


# A service's refusal by its stable `code` (the problem+json member; evaluations' workflow and
# spreadsheet round trip), worded with its `params` (codes among them are translated first).
REFUSALS: dict[str, str] = {
    "response_cannot_return_to_pending": N_("The response is already “%(current)s”: it cannot go back to pending."),
    "response_needs_justification": N_("The response “%(response)s” needs a justification: write it in the comment."),
    "status_transition_not_allowed": N_(
        "The implementation status cannot go from “%(current)s” to “%(new)s”. From “%(current)s” it can go to: %(allowed)s."
    ),
    "status_is_final": N_("The implementation status “%(current)s” is final: it cannot change any more."),
    "status_contradicts_rejection": N_(
        "The city rejected this recommendation: the status “%(status)s” contradicts that. Change the response first."
    ),
    "verification_cannot_be_unverified": N_("Verify the answer or send it back."),
    "nothing_to_verify": N_("The city has not responded yet: there is nothing to verify."),
    "contest_needs_comment": N_("Sending back needs a comment for the city saying why."),
    "changed_since_export": N_(
        "This follow-up changed since the export (version %(version)s, now %(current_version)s): not applied. "
        "Export again and redo the change."
    ),
    "followup_closed": N_("The follow-up is closed: %(why)s"),
}


EVENT_PREFIXES = ("seminar.", "recommendation.", "followup.", "cluster_link.")
EVENT_ORDER: tuple[str, ...] = tuple(code for code in LABELS if code.startswith(EVENT_PREFIXES))


def event_order(codes: set[str]) -> list[str]:
    """Event types in EVENT_ORDER (grouped: seminar, recommendation, follow-up, link), any type not
    listed there after them, by code: a new event type still shows, as its code, until labelled."""
    return [c for c in EVENT_ORDER if c in codes] + sorted(codes - set(EVENT_ORDER))


def label(code: str | None) -> str:
    """The English label of a code (translated by the caller), or the code itself."""
    return LABELS.get(code or "", code or "")


# The network picture's words (services/portal/network.py `Words`; the table beside it says the same)
NETWORK_WORDS = {
    "title": N_("Inter-cluster links between CLUSNET partner cities"),
    "summary": N_(
        "Clusters: %(clusters)d. Partner cities: %(cities)d. Links: %(links)d%(statuses)s. "
        "The table beside it lists the same links."
    ),
    "cluster": N_("%(name)s, %(sector)s cluster in %(city)s. Links: %(links)d"),
    "kind_heading": N_("Kind (line pattern)"),
    "status_heading": N_("Status (line colour)"),
}
LINK_KINDS = {
    "joint_project": N_("Joint project"),
    "staff_exchange": N_("Staff exchange"),
    "cooperation_agreement": N_("Cooperation agreement"),
    "study_visit": N_("Study visit"),
    "other": N_("Other link"),
}
LINK_STATUSES = {
    "proposed": N_("Proposed"),
    "established": N_("Established"),
    "active": N_("Active"),
    "ended": N_("Ended"),
    "cancelled": N_("Cancelled"),
}
