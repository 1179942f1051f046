"""Resolve short gmmc names in cross-references.

Docstrings name gmmc's objects as their users do: ``GaussianMixture.save``
in ``gmmc.io``, ``select`` in ``gmmc.GaussianMixture``. Sphinx looks such a
name up relative to the page's module and class only; this extension then
tries ``gmmc.<name>``, so the reference links to the documented object. A
name that is still unknown stays a broken reference (a warning, an error
under ``-W``).
"""


def _resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target or target.startswith("gmmc."):
        return None
    domain = env.get_domain("py")
    candidate = f"gmmc.{target}"
    found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                candidate, node, contnode)
    if found is None and node["reftype"] == "obj":
        matches = domain.resolve_any_xref(env, node["refdoc"], app.builder, candidate,
                                          node, contnode)
        found = matches[0][1] if matches else None
    return found


def setup(app):
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
