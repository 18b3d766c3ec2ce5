// The ICAHT chart, a SMART-on-FHIR app with no build step.
// launch.html calls launch(): OAuth (EHR or standalone launch, PKCE S256 required) or, for an
// open demo server, fhirclient's fhirServiceUrl mode. index.html calls show(): it reads the
// patient's data from the FHIR server with the access token, posts it to the service's
// assessment API and draws what the service computed. The app grades nothing itself: every
// number on screen comes from the service's answer, so the chart and the cards cannot disagree.
// The globals FHIR (fhirclient) and uPlot come from the vendored scripts in vendor/.

const CONFIG_URL = "config.json";
const FIRST_DAY = -7;
const LAST_DAY = 100;
const SERIES = [
  { key: "anc", title: "Absolute neutrophil count", colour: "#1f5fa8", height: 240 },
  { key: "platelets", title: "Platelets", colour: "#7b3294", height: 170 },
  { key: "hemoglobin", title: "Hemoglobin", colour: "#b2182b", height: 170 },
];
const CONDITIONS_REFUSED =
  "Conditions (the EHR did not grant patient/Condition.rs): relapse, CRS and next therapy " +
  "are not taken into account";
const ORDERS_REFUSED =
  "Medication orders (the EHR did not grant patient/MedicationRequest.rs): anticoagulants " +
  "and myelosuppressive drugs ordered but not yet given are not taken into account";
const STATEMENTS_REFUSED =
  "Medication statements (the EHR did not grant patient/MedicationStatement.rs): G-CSF and " +
  "prophylaxis taken or given elsewhere are not taken into account";
const SERVICE_REQUESTS_REFUSED =
  "Service requests (the EHR did not grant patient/ServiceRequest.rs): a CAR-T infusion " +
  "planned as an order is not taken into account";
const APPOINTMENTS_REFUSED =
  "Appointments (the EHR did not grant patient/Appointment.rs): a CAR-T infusion booked as " +
  "an appointment is not taken into account";
const VITALS_REFUSED =
  "Body temperatures (the EHR did not grant the vital-sign Observations): fever is not " +
  "taken into account";
// R4 AppointmentStatus codes of a booking still ahead (as the hooks' `appointments` key)
const APPOINTMENT_AHEAD = "proposed,pending,booked,arrived,checked-in,waitlist";
const SHADE = { 500: "rgba(230, 126, 34, 0.22)", 100: "rgba(192, 57, 43, 0.30)" };
// T-ICAHT (issue 19): the platelet days < 50 and < 20 x10^9/L in the ANC episodes' colours
const PLATELET_SHADE = { 50: SHADE[500], 20: SHADE[100] };

// ---------------------------------------------------------------------------------- launch

export async function launch() {
  const status = document.getElementById("status");
  try {
    const config = await loadConfig();
    const params = new URL(window.location.href).searchParams;
    if (params.get("fhirServiceUrl") && !params.get("iss")) {
      status.textContent = "Opening the FHIR server without authorization (demo)…";
      await FHIR.oauth2.authorize({
        clientId: config.clientId,
        scope: config.scope,
        fhirServiceUrl: params.get("fhirServiceUrl"),
        patientId: params.get("patient") || undefined,
        redirectUri: "index.html",
      });
      return;
    }
    if (!params.get("iss")) {
      throw new AppError(
        "The launch has no FHIR server: the URL needs an iss (or fhirServiceUrl).",
      );
    }
    status.textContent = "Asking the EHR for authorization…";
    await FHIR.oauth2.authorize({
      clientId: config.clientId,
      scope: launchScope(config.scope, params.has("launch")),
      redirectUri: "index.html",
      pkceMode: "required",
    });
  } catch (error) {
    showError(status, "The launch failed", error);
  }
}

// A standalone launch has no EHR context to hand over: it asks the server to pick a patient.
function launchScope(scope, ehrLaunch) {
  if (ehrLaunch) return scope;
  return scope
    .split(/\s+/)
    .map((s) => (s === "launch" ? "launch/patient" : s))
    .join(" ");
}

// ------------------------------------------------------------------------------------ show

export async function show() {
  const status = document.getElementById("status");
  let phase = "authorization";
  try {
    const client = await FHIR.oauth2.ready();
    const config = await loadConfig();
    const patientId = client.patient.id;
    if (!patientId) throw new AppError("The launch did not name a patient.");
    phase = "fhir";
    status.textContent = "Reading the patient's records from the FHIR server…";
    const { resources, omitted } = await readRecords(client, patientId, config);
    phase = "assessment";
    status.textContent = `Assessing ${resources.length} records…`;
    const context = appContextOf(client);
    const request = { patientId, resources, ...context };
    const assessment = await assess(config.assessmentUrl, request, idTokenOf(client));
    assessment.missing = [...assessment.missing, ...omitted];
    render(assessment, patientLabel(resources));
    status.textContent = statusLine(assessment, Boolean(context.evaluationDate));
    document.body.dataset.state = "ready";
  } catch (error) {
    document.body.dataset.state = "error";
    showError(status, explainPhase(phase, error), error);
  }
}

async function loadConfig() {
  const response = await fetch(CONFIG_URL, { headers: { Accept: "application/json" } });
  if (!response.ok) {
    throw new AppError(`The app's configuration could not be read (HTTP ${response.status}).`);
  }
  return response.json();
}

// The card link may carry an appContext (CDS Hooks 2.0 Link.appContext, a string); the EHR
// hands it over in the token response. The app understands one key of a JSON appContext, the
// date the card was computed for (the service's status card also names its hookInstance):
// the chart is assessed on that date, so it agrees with the card. Anything else is ignored.
function appContextOf(client) {
  const raw = client.state.tokenResponse && client.state.tokenResponse.appContext;
  if (!raw) return {};
  try {
    const context = typeof raw === "string" ? JSON.parse(raw) : raw;
    const date = context && context.evaluationDate;
    return typeof date === "string" && /^\d{4}-\d{2}-\d{2}$/.test(date)
      ? { evaluationDate: date }
      : {};
  } catch {
    return {};
  }
}

async function readRecords(client, patientId, config) {
  const id = encodeURIComponent(patientId);
  const all = { pageLimit: 0, flat: true };
  const codesOf = (list) => (list || []).map(encodeURIComponent).join(",");
  const labCodes = codesOf(config.observationCodes);
  const vitalCodes = codesOf(config.vitalSignCodes);
  const omitted = [];
  // An EHR may refuse the scope of an optional read: grade without it, and say so, rather
  // than show nothing.
  const optional = (query, refused) =>
    client.request(query, all).catch((error) => {
      if (error && error.status === 403) {
        omitted.push(refused);
        return [];
      }
      throw error;
    });
  const [patient, ...searches] = await Promise.all([
    client.request(`Patient/${id}`),
    // blood counts, chemistry and blood cultures
    client.request(`Observation?patient=${id}&code=${labCodes}&_count=500`, all),
    client.request(`Procedure?patient=${id}&_count=500`, all),
    client.request(`MedicationAdministration?patient=${id}&_count=500`, all),
    // Conditions carry relapse, CRS, next therapy, infections, bleeding and the disease
    optional(`Condition?patient=${id}&_count=500`, CONDITIONS_REFUSED),
    // active orders: anticoagulants and myelosuppressive drugs (M19, M21), G-CSF,
    // prophylaxis, a CAR-T product ordered for a planned infusion (M24)
    optional(`MedicationRequest?patient=${id}&status=active&_count=500`, ORDERS_REFUSED),
    // G-CSF and prophylaxis taken or given elsewhere (C15)
    optional(
      `MedicationStatement?patient=${id}&status=active,completed&_count=500`,
      STATEMENTS_REFUSED,
    ),
    // a planned CAR-T infusion: ordered as a procedure or booked (M24; decision 0023)
    optional(
      `ServiceRequest?patient=${id}&status=active,draft&_count=500`,
      SERVICE_REQUESTS_REFUSED,
    ),
    optional(
      `Appointment?patient=${id}&status=${APPOINTMENT_AHEAD}&_count=500`,
      APPOINTMENTS_REFUSED,
    ),
    // body temperature (fever): charted, a read of its own (an EHR may grant laboratory
    // Observations only); no read without a code to ask for
    vitalCodes
      ? optional(`Observation?patient=${id}&code=${vitalCodes}&_count=500`, VITALS_REFUSED)
      : Promise.resolve([]),
  ]);
  // A search can also return OperationOutcome entries (warnings); the service wants resources.
  const found = searches.flat().filter((r) => r && r.resourceType !== "OperationOutcome");
  return { resources: [patient, ...found], omitted };
}

// The assessment API takes the launch's OpenID Connect id_token (scope "openid"), signed by
// the EHR, as its bearer token; the EHR's access token never leaves for the service. The demo's
// open-server launch has none (the service runs with ICAHT_CDS_ASSESSMENT_AUTH=none there).
function idTokenOf(client) {
  const token = client.state.tokenResponse && client.state.tokenResponse.id_token;
  return typeof token === "string" && token ? token : null;
}

async function assess(url, request, idToken) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (idToken) headers.Authorization = `Bearer ${idToken}`;
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify(request),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new AppError(`HTTP ${response.status}${outcomeText(body)}`, response.status);
  }
  return body;
}

function patientLabel(resources) {
  const patient = resources[0] || {};
  const name = (patient.name || [])[0];
  if (!name) return "";
  return [...(name.given || []), name.family || ""].join(" ").trim();
}

function statusLine(assessment, cardDate) {
  // the date came with the card that opened the chart (appContext): say so
  const on = `Assessed on ${assessment.evaluationDate}${cardDate ? " (the card's date)" : ""}`;
  if (!assessment.infusionDate && assessment.plannedInfusionDate) {
    return (
      `${on}: CAR-T course in preparation, infusion planned ` +
      `on ${assessment.plannedInfusionDate}. No ICAHT grade before day 0.`
    );
  }
  if (!assessment.infusionDate) {
    return "No CAR-T infusion on record: there is nothing to grade for this patient.";
  }
  return `${on}, day ${signed(assessment.day)} after CAR-T infusion.`;
}

// ----------------------------------------------------------------------------------- errors

class AppError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

function explainPhase(phase, error) {
  if (phase === "assessment" && error && error.status === 401) {
    return (
      "The ICAHT service did not accept the launch's sign-in (the EHR's id_token is missing, " +
      "expired or from an EHR it does not know). Launch the app again from the patient's chart"
    );
  }
  if (phase === "assessment" && error && error.status === 429) {
    return "The ICAHT service has had too many requests from you just now: wait a minute and reload";
  }
  if (error && error.status === 401) {
    return (
      "Your session has expired: the FHIR server no longer accepts the access token. " +
      "Launch the app again from the patient's chart"
    );
  }
  if (phase === "authorization") return "The authorization with the EHR failed";
  if (phase === "fhir") return "The FHIR server answered with an error";
  return "The ICAHT service could not assess the patient";
}

function showError(element, headline, error) {
  const detail = error && error.message ? firstLine(error.message) : String(error);
  element.textContent = `${headline}. ${detail}`;
  element.setAttribute("role", "alert");
  element.classList.add("error");
  document.body.dataset.state = "error";
}

function firstLine(text) {
  return text.split("\n")[0].slice(0, 300);
}

function outcomeText(body) {
  const issues = (body && body.issue) || [];
  const words = issues.map((i) =>
    [i.diagnostics, ...(i.expression || [])].filter(Boolean).join(" at "),
  );
  return words.length ? `: ${words.join("; ")}` : "";
}

// ----------------------------------------------------------------------------------- render

function render(assessment, label) {
  document.getElementById("patient-label").textContent = label;
  document.getElementById("app").hidden = false;
  document.getElementById("rules-version").textContent =
    `Rules version ${assessment.rulesVersion}. Decision support: check against the chart.`;
  renderSummary(assessment);
  if (!assessment.infusionDate) {
    // before day 0 there is nothing to chart or grade, but a course in preparation has the
    // rules that speak before the infusion (M01, M10, M24: issue 14)
    const preparing = assessment.alerts.length > 0 || Boolean(assessment.plannedInfusionDate);
    for (const id of ["charts", "ctcae-section", "left-out-section"]) {
      document.getElementById(id).hidden = true;
    }
    document.getElementById("alerts-section").hidden = !preparing;
    if (preparing) {
      renderAlerts(assessment.alerts);
      renderGaps(assessment);
    }
    return;
  }
  renderEpisodes(assessment.episodes);
  renderPlateletBands(assessment.plateletBands || []);
  for (const spec of SERIES) renderChart(spec, assessment);
  renderList("ctcae", assessment.ctcae, (c) => `${c.count}: grade ${c.grade}. ${c.text}`);
  renderAlerts(assessment.alerts);
  renderList("left-out", assessment.leftOut, (o) => `${o.resource}: ${o.reason}`);
  renderGaps(assessment);
}

function renderSummary(a) {
  setText(
    "day-label",
    a.infusionDate
      ? `day ${signed(a.day)} (infusion ${a.infusionDate})`
      : a.plannedInfusionDate
        ? `infusion planned on ${a.plannedInfusionDate}`
        : "no infusion on record",
  );
  const early = document.getElementById("early-grade");
  if (a.early && a.early.grade !== null) {
    early.textContent = `grade ${a.early.grade}${a.early.lowerBound ? " or higher" : ""} (${a.early.status})`;
    early.dataset.grade = String(a.early.grade);
    early.dataset.status = a.early.status || "";
  } else {
    early.textContent = a.early ? `not graded (${a.early.status || "not evaluable"})` : "—";
  }
  setText("early-text", a.early ? a.early.text : "");
  const late = document.getElementById("late-grade");
  if (a.late && a.late.grade !== null) {
    const confirmation = { true: " (confirmed)", false: " (not confirmed)" }[a.late.confirmed] || "";
    late.textContent = `grade ${a.late.grade}${confirmation}`;
    late.dataset.grade = String(a.late.grade);
  } else {
    late.textContent = a.late ? a.late.text : "—";
  }
  renderTIcaht(a.tIcaht);
  setText("phenotype", a.phenotype ? a.phenotype.text : "—");
  setText(
    "hematotox",
    a.hematotox ? `${a.hematotox.score} (${a.hematotox.risk} risk)` : "not scored",
  );
  setText("easix", a.easix ? a.easix.text : "not scored");
}

// T-ICAHT tiles (issue 19): as the N-ICAHT ones, from the service's tIcaht object
function renderTIcaht(t) {
  const early = document.getElementById("t-early-grade");
  const late = document.getElementById("t-late-grade");
  for (const element of [early, late]) {
    delete element.dataset.grade;
    delete element.dataset.status;
  }
  setText("t-icaht-text", t ? `T-ICAHT: ${t.text}` : "");
  if (!t) {
    early.textContent = "—";
    late.textContent = "—";
    return;
  }
  if (t.early.grade !== null) {
    const bound = t.early.lowerBound ? " or higher" : "";
    early.textContent = `grade ${t.early.grade}${bound} (${t.early.status})`;
    early.dataset.grade = String(t.early.grade);
    early.dataset.status = t.early.status;
  } else {
    early.textContent = `not graded (${t.early.status})`;
  }
  if (t.late.grade !== null) {
    const confirmation = { true: " (confirmed)", false: " (not confirmed)" }[t.late.confirmed] || "";
    late.textContent = `grade ${t.late.grade}${confirmation}`;
    late.dataset.grade = String(t.late.grade);
    late.dataset.status = t.late.status;
  } else {
    late.textContent = "not graded";
  }
}

function renderPlateletBands(bands) {
  const runs = (threshold) =>
    bands
      .filter((b) => b.threshold === threshold)
      .map((b) =>
        b.startDay === b.endDay
          ? `day ${signed(b.startDay)}`
          : `days ${signed(b.startDay)} to ${signed(b.endDay)}`,
      );
  const parts = [50, 20]
    .filter((threshold) => runs(threshold).length)
    .map((threshold) => `< ${threshold} x10^9/L on ${runs(threshold).join(", ")}`);
  const element = document.getElementById("platelet-bands");
  element.textContent = parts.length
    ? `Platelets ${parts.join("; ")}.`
    : "No platelet count < 50 x10^9/L between day 0 and day +100.";
  element.dataset.bands = JSON.stringify(bands.map((b) => [b.threshold, b.startDay, b.endDay]));
}

function renderEpisodes(episodes) {
  const text = episodes.length
    ? "Neutropenic episodes: " +
      episodes
        .map(
          (e) =>
            `ANC ≤ ${e.threshold}/µL from day ${signed(e.startDay)} to day ${signed(e.endDay)}`,
        )
        .join("; ") +
      "."
    : "No neutropenic episode (ANC ≤ 500/µL) between day -7 and day +100.";
  const element = document.getElementById("episodes");
  element.textContent = text;
  element.dataset.episodes = JSON.stringify(
    episodes.map((e) => [e.threshold, e.startDay, e.endDay]),
  );
}

function renderAlerts(alerts) {
  const list = document.getElementById("alerts");
  list.replaceChildren();
  if (!alerts.length) list.append(item("No alert."));
  for (const alert of alerts) {
    const entry = document.createElement("li");
    entry.className = `alert ${alert.severity}`;
    entry.dataset.rule = alert.ruleId;
    const head = document.createElement("strong");
    head.textContent = `${alert.severity}: ${alert.summary}`;
    const body = document.createElement("p");
    body.textContent = `${alert.recommendation} ${alert.rationale}`.trim();
    const source = document.createElement("p");
    source.className = "source";
    source.append(`${alert.ruleId}, source: `);
    source.append(alert.sourceUrl ? link(alert.source, alert.sourceUrl) : alert.source);
    entry.append(head, body, source);
    list.append(entry);
  }
}

function renderGaps(a) {
  const lines = [
    ...a.notEvaluable.map((x) => `Not evaluable: ${x}`),
    ...a.missing.map((x) => `Missing: ${x}`),
  ];
  renderList("gaps", lines, (x) => x);
}

function renderList(id, entries, format) {
  const list = document.getElementById(id);
  list.replaceChildren(...entries.map((e) => item(format(e))));
  if (!entries.length) list.append(item("None."));
}

// ----------------------------------------------------------------------------------- charts

function renderChart(spec, assessment) {
  const series = assessment.series[spec.key];
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.series = spec.key;
  figure.dataset.points = String(series.points.length);
  figure.dataset.measured = String(series.points.filter((p) => p.kind === "measured").length);
  const caption = document.createElement("figcaption");
  caption.textContent = `${spec.title} (${series.unit}): ${describe(series.points)}`;
  const plot = document.createElement("div");
  plot.className = "plot";
  plot.setAttribute("role", "img");
  plot.setAttribute("aria-label", caption.textContent);
  figure.append(caption, plot, valuesTable(spec, series));
  document.getElementById("charts").append(figure);
  drawPlot(plot, spec, series, assessment);
}

function describe(points) {
  if (!points.length) return "no values between day -7 and day +100.";
  const measured = points.filter((p) => p.kind === "measured").length;
  const low = points.reduce((a, b) => (b.value < a.value ? b : a));
  return `${points.length} days with a value (${measured} measured), lowest ${shown(low.value)} on day ${signed(low.day)}.`;
}

// unit conversions leave digits no analyser reports (6 mmol/L Hb is 9.666 g/dL): show three
// significant digits, and whole numbers from 100 up (counts per uL)
function shown(value) {
  return Math.abs(value) >= 100 ? String(Math.round(value)) : String(Number(value.toPrecision(3)));
}

function valuesTable(spec, series) {
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = `${spec.title}: the values as a table`;
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const title of ["Day", "Date", `Value (${series.unit})`, "Kind"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = title;
    head.append(th);
  }
  const body = table.createTBody();
  for (const p of series.points) {
    const row = body.insertRow();
    row.dataset.kind = p.kind;
    // a "<0.1" result stays "<" in the table: the true value lies below the plotted bound
    const value = `${p.comparator || ""}${shown(p.value)}`;
    for (const text of [signed(p.day), p.date, value, p.kind]) row.insertCell().textContent = text;
  }
  details.append(summary, table);
  return details;
}

function drawPlot(element, spec, series, assessment) {
  const days = [];
  for (let d = FIRST_DAY; d <= LAST_DAY; d++) days.push(d);
  const byDay = new Map(series.points.map((p) => [p.day, p]));
  const all = days.map((d) => (byDay.has(d) ? byDay.get(d).value : null));
  const only = (test) =>
    days.map((d) => (byDay.has(d) && test(byDay.get(d).kind) ? byDay.get(d).value : null));
  const noLine = () => null;
  const options = {
    width: Math.max(element.clientWidth, 280),
    height: spec.height,
    legend: { show: false },
    cursor: { show: false },
    scales: {
      x: { time: false, range: [FIRST_DAY - 1, LAST_DAY + 1] },
      y: yScale(spec.key, series),
    },
    axes: [
      { label: "day after infusion", values: (u, splits) => splits.map(signed) },
      yAxis(spec.key, series.unit),
    ],
    series: [
      {},
      { label: "all", stroke: spec.colour, width: 1.5, spanGaps: true, points: { show: false } },
      {
        label: "measured",
        stroke: spec.colour,
        paths: noLine,
        points: { show: true, size: 6, fill: spec.colour },
      },
      {
        label: "filled",
        stroke: spec.colour,
        paths: noLine,
        points: { show: true, size: 7, width: 1.5, fill: "#ffffff" },
      },
    ],
    hooks: {
      drawAxes: [(u) => underlay(u, spec.key, assessment)],
      draw: [(u) => overlay(u, spec.key, assessment)],
    },
  };
  const data = [days, all, only((k) => k === "measured"), only((k) => k !== "measured")];
  const plot = new uPlot(options, data, element);
  element.closest("figure").plot = plot; // lets the browser tests read the drawn chart
  new ResizeObserver(() =>
    plot.setSize({ width: Math.max(element.clientWidth, 280), height: spec.height }),
  ).observe(element);
}

// ANC spans 0 to many thousands while the lines that matter are 100 and 500: an asinh scale keeps
// the low range readable and, unlike a log scale, still shows a count of 0.
function yScale(key, series) {
  const top = Math.max(1, ...series.points.map((p) => p.value));
  if (key === "anc") return { distr: 4, asinh: 50, range: [0, Math.max(top * 2, 1000)] };
  return { range: [0, top * 1.15] };
}

// uPlot's own ticks on an asinh scale crowd the low range; the clinical steps read better.
const ANC_TICKS = [0, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000];

function yAxis(key, unit) {
  const axis = { label: unit, size: 60 };
  if (key !== "anc") return axis;
  return {
    ...axis,
    splits: (u) => ANC_TICKS.filter((v) => v <= u.scales.y.max),
    filter: (u, splits) => splits, // uPlot's default drops non-decade ticks on asinh scales
    values: (u, splits) => splits.map((v) => (v === null ? "" : String(v))),
  };
}

function underlay(u, key, assessment) {
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  if (key === "anc") {
    for (const e of assessment.episodes) {
      const x0 = u.valToPos(e.startDay - 0.5, "x", true);
      const x1 = u.valToPos(e.endDay + 0.5, "x", true);
      ctx.fillStyle = SHADE[e.threshold] || SHADE[500];
      ctx.fillRect(x0, top, x1 - x0, height);
    }
  }
  if (key === "platelets") {
    for (const b of assessment.plateletBands || []) {
      const x0 = u.valToPos(b.startDay - 0.5, "x", true);
      const x1 = u.valToPos(b.endDay + 0.5, "x", true);
      ctx.fillStyle = PLATELET_SHADE[b.threshold] || PLATELET_SHADE[50];
      ctx.fillRect(x0, top, x1 - x0, height);
    }
  }
  ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
  ctx.strokeStyle = "#555";
  ctx.lineWidth = devicePixelRatio;
  for (const day of [0, assessment.thresholds.earlyEndDay]) {
    const x = u.valToPos(day, "x", true);
    line(ctx, x, top, x, top + height);
  }
  if (key === "anc") {
    ctx.strokeStyle = "#c0392b";
    for (const level of [assessment.thresholds.ancSevere, assessment.thresholds.ancProfound]) {
      const y = u.valToPos(level, "y", true);
      line(ctx, left, y, left + width, y);
    }
  }
  if (key === "platelets") {
    ctx.strokeStyle = "#c0392b";
    for (const level of plateletLevels(assessment, u)) {
      const y = u.valToPos(level, "y", true);
      line(ctx, left, y, left + width, y);
    }
  }
  ctx.restore();
}

function overlay(u, key, assessment) {
  const { ctx } = u;
  const { left, top, width } = u.bbox;
  const px = devicePixelRatio;
  ctx.save();
  ctx.font = `${12 * px}px system-ui, sans-serif`;
  ctx.fillStyle = "#333";
  ctx.textBaseline = "top";
  ctx.fillText("day 0", u.valToPos(0, "x", true) + 3 * px, top + 3 * px);
  ctx.fillText(
    `day ${assessment.thresholds.earlyEndDay}`,
    u.valToPos(assessment.thresholds.earlyEndDay, "x", true) + 3 * px,
    top + 3 * px,
  );
  if (key === "platelets") {
    ctx.fillStyle = "#c0392b";
    ctx.textBaseline = "bottom";
    // the lower line's label below it, so that two close lines keep readable labels
    const levels = plateletLevels(assessment, u);
    for (const level of levels) {
      const lowest = level === Math.min(...levels) && levels.length > 1;
      ctx.textBaseline = lowest ? "top" : "bottom";
      const y = u.valToPos(level, "y", true) + (lowest ? 2 : -2) * px;
      ctx.fillText(`${level} x10^9/L`, left + width - 70 * px, y);
    }
  }
  if (key === "anc") {
    ctx.fillStyle = "#c0392b";
    ctx.textBaseline = "bottom";
    for (const level of [assessment.thresholds.ancSevere, assessment.thresholds.ancProfound]) {
      ctx.fillText(`${level}/µL`, left + width - 52 * px, u.valToPos(level, "y", true) - 2 * px);
    }
    // the grade on a white label, so that no curve runs through it
    ctx.font = `bold ${14 * px}px system-ui, sans-serif`;
    let caption = gradeCaption(assessment, false);
    if (ctx.measureText(caption).width > width * 0.7) caption = gradeCaption(assessment, true);
    const textWidth = ctx.measureText(caption).width;
    const boxLeft = left + width - textWidth - 14 * px;
    ctx.fillStyle = "rgba(255, 255, 255, 0.92)";
    ctx.fillRect(boxLeft, top + 2 * px, textWidth + 12 * px, 20 * px);
    ctx.strokeStyle = "#888";
    ctx.lineWidth = px;
    ctx.strokeRect(boxLeft, top + 2 * px, textWidth + 12 * px, 20 * px);
    ctx.fillStyle = "#111";
    ctx.textAlign = "right";
    ctx.textBaseline = "top";
    ctx.fillText(caption, left + width - 8 * px, top + 5 * px);
  }
  ctx.restore();
}

// The T-ICAHT lines (50 and 20 x10^9/L) that fall inside the platelet chart's scale.
function plateletLevels(assessment, u) {
  const { plateletModerate, plateletSevere } = assessment.thresholds;
  return [plateletModerate, plateletSevere].filter((v) => v !== undefined && v <= u.scales.y.max);
}

// The narrow side panel gets the short form: "N-ICAHT 3 (final) / late 2".
function gradeCaption(a, short) {
  const graded = a.early && a.early.grade !== null;
  const grade = graded
    ? `${a.early.grade}${a.early.lowerBound ? "+" : ""} (${a.early.status})`
    : "not graded";
  const lateGraded = a.late && a.late.grade !== null;
  if (short) return `N-ICAHT ${grade}${lateGraded ? ` / late ${a.late.grade}` : ""}`;
  const early = graded ? `early N-ICAHT grade ${grade}` : "early N-ICAHT not graded";
  return `${early}${lateGraded ? `, late grade ${a.late.grade}` : ""}`;
}

function line(ctx, x0, y0, x1, y1) {
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

// ---------------------------------------------------------------------------------- helpers

function signed(day) {
  return day > 0 ? `+${day}` : String(day);
}

function setText(id, text) {
  document.getElementById(id).textContent = text;
}

function item(text) {
  const li = document.createElement("li");
  li.textContent = text;
  return li;
}

function link(text, href) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}
