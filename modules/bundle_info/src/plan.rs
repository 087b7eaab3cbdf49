//! The planner: from the appliance's version, the target and the bundles given,
//! the shortest allowed sequence of hops, or a refusal that says what to download.

use crate::rules::{allows, catalog, rules_for, Rule, Ver};

/// One hop of a plan: the bundle (its index in the list given) and the rule allowing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub from: Ver,
    pub to: Ver,
    pub bundle: usize,
    pub rule: Rule,
}

/// Why no plan: the message says what to download or change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    /// The releases to download (`4.3`, `4.8`), in hop order.
    pub missing: Vec<Ver>,
}

/// Whether a bundle of version `v` brings the appliance to `target`.
pub fn reaches(v: Ver, target: Ver) -> bool {
    v.line() == target.line() && v >= target
}

#[derive(Debug, Clone, Copy)]
struct Node {
    ver: Ver,
    /// Index of the given bundle, or None for a release not given (a download).
    bundle: Option<usize>,
}

/// Cost of a route: (releases to download, hops). Fewest downloads first.
type Cost = (u32, u32);

/// Plan the hops. `bundles` are the versions of the bundles given, in order.
pub fn plan(rules: &[Rule], current: Ver, target: Ver, bundles: &[Ver]) -> Result<Vec<Hop>, Refusal> {
    if current >= target {
        return Ok(Vec::new());
    }
    let nodes = nodes(current, target, bundles);
    let Some(route) = shortest(rules, current, target, &nodes) else {
        return Err(no_route(rules, current, target));
    };
    let missing: Vec<Ver> = route.iter().filter(|n| n.bundle.is_none()).map(|n| n.ver).collect();
    if !missing.is_empty() {
        return Err(needs_downloads(rules, current, target, &route, missing));
    }
    let mut from = current;
    let mut hops = Vec::new();
    for n in route {
        let rule = allows(rules, from, n.ver).ok_or_else(|| no_route(rules, current, target))?;
        hops.push(Hop { from, to: n.ver, bundle: n.bundle.unwrap_or_default(), rule });
        from = n.ver;
    }
    Ok(hops)
}

/// The given bundles that could take part (newer than the appliance, not past
/// the target's line; the highest of one version wins), then the releases
/// not given, as downloads.
fn nodes(current: Ver, target: Ver, bundles: &[Ver]) -> Vec<Node> {
    let useful = |v: Ver| v > current && (v < target || reaches(v, target));
    let mut nodes: Vec<Node> = Vec::new();
    for (i, &v) in bundles.iter().enumerate() {
        if useful(v) && !nodes.iter().any(|n| n.ver == v) {
            nodes.push(Node { ver: v, bundle: Some(i) });
        }
    }
    let mut wanted = catalog();
    wanted.push(target);
    for v in wanted {
        let given = nodes.iter().any(|n| n.ver.line() == v.line() && n.ver >= v);
        if useful(v) && !given {
            nodes.push(Node { ver: v, bundle: None });
        }
    }
    // Older first: among equal routes the smaller step wins (4.2 → 4.6 names
    // the 4.3 shar, the documented route, rather than the 4.5 ISO).
    nodes.sort_by_key(|a| a.ver);
    nodes
}

/// Fewest downloads, then fewest hops, from `current` to a node reaching `target`.
fn shortest(rules: &[Rule], current: Ver, target: Ver, nodes: &[Node]) -> Option<Vec<Node>> {
    let step = |n: &Node| -> Cost { (u32::from(n.bundle.is_none()), 1) };
    let add = |a: Cost, b: Cost| (a.0 + b.0, a.1 + b.1);
    // best[i] = (cost, predecessor) to reach nodes[i]; relax until stable (a handful of nodes).
    let mut best: Vec<Option<(Cost, Option<usize>)>> =
        nodes.iter().map(|n| allows(rules, current, n.ver).map(|_| (step(n), None))).collect();
    for _ in 0..nodes.len() {
        for i in 0..nodes.len() {
            let Some((ci, _)) = best[i] else { continue };
            for j in 0..nodes.len() {
                if reaches(nodes[i].ver, target) || allows(rules, nodes[i].ver, nodes[j].ver).is_none() {
                    continue;
                }
                let c = add(ci, step(&nodes[j]));
                if best[j].is_none_or(|(cj, _)| c < cj) {
                    best[j] = Some((c, Some(i)));
                }
            }
        }
    }
    let end = (0..nodes.len())
        .filter(|&i| reaches(nodes[i].ver, target))
        .filter_map(|i| best[i].map(|(c, _)| (c, i)))
        .min_by_key(|&(c, i)| (c, std::cmp::Reverse(nodes[i].ver)))?
        .1;
    let mut route = vec![nodes[end]];
    let mut at = end;
    while let Some((_, Some(prev))) = best[at] {
        route.push(nodes[prev]);
        at = prev;
    }
    route.reverse();
    Some(route)
}

/// What to download for release `v`: the shar for 4.3, else the ISO and its files.
pub fn download(v: Ver) -> String {
    if v.line() == (4, 3) {
        "the 4.3 shar (ums-system-upgrade.shar)".into()
    } else {
        format!("the {} ISO (Usage_Meter_Agent-{}.*_Upgrade.iso with its .mf, .crt and .sign)", v.short(), v.short())
    }
}

fn needs_downloads(rules: &[Rule], current: Ver, target: Ver, route: &[Node], missing: Vec<Ver>) -> Refusal {
    let path: Vec<String> = std::iter::once(current.to_string()).chain(route.iter().map(|n| n.ver.short())).collect();
    let what: Vec<String> = missing.iter().map(|&v| download(v)).collect();
    let last = route.last().map_or(target, |n| n.ver);
    let says = rules_for(rules, last).first().map_or(String::new(), |r| format!("; {} installs {}", last.short(), r.describe()));
    let first_missing = missing.iter().filter(|v| !reaches(**v, target)).map(|v| v.short()).collect::<Vec<_>>();
    let needs = if first_missing.is_empty() {
        format!("has no bundle for {}", target.short())
    } else {
        format!("needs {} first", first_missing.join(" and "))
    };
    Refusal { message: format!("{current} → {target} {needs} (route {}{says}): add {}", path.join(" → "), what.join(", ")), missing }
}

fn no_route(rules: &[Rule], current: Ver, target: Ver) -> Refusal {
    let rs = rules_for(rules, target);
    let message = if rs.is_empty() {
        format!("no in-place upgrade rule is known for {} (known: 4.3-4.8, 9.x): set target_version to one of them", target.short())
    } else {
        let says: Vec<String> = rs.iter().map(|r| r.describe()).collect();
        format!(
            "no allowed sequence of hops leads from {current} to {target} ({} installs {}): the appliance's version is not a documented source",
            target.short(),
            says.join("; ")
        )
    };
    Refusal { message, missing: Vec::new() }
}
