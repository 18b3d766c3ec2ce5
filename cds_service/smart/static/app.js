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
  { key: "anc", title: "Absolute neutrophil count", colour: "#1f5fa8", height: 250 },
  { key: "platelets", title: "Platelets", colour: "#7b3294", height: 210 },
  { key: "hemoglobin", title: "Hemoglobin", colour: "#b2182b", height: 240 },
];
// Below this plot width (a 400 px EHR side panel) the days after the early window are drawn
// compressed, so that days 0-30, where the early grade is decided, keep a readable width
// (about 5 px a day instead of 2.5); the axis note and its ticks say so (issue 16).
const NARROW_PLOT = 640;
const LATE_COMPRESSION = 0.2;
// the marker labels (day 0, day 30, today) sit in a strip above the plot, where no curve runs
const LABEL_STRIP = 18;
// the plot's width is the chart's less its axes: the y axis (60 px), the lines' values (30 px)
// and the right padding (4 px)
const AXES_WIDTH = 94;
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
    showError(status, "The launch failed. Open the app from the patient's chart in the EHR", error);
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
  if (phase === "authorization") {
    return "The authorization with the EHR failed. Launch the app again from the patient's chart";
  }
  if (phase === "fhir" && error && (error.status === 404 || error.status === 410)) {
    return (
      "The FHIR server does not know this patient. Check that the app was opened from the " +
      "right patient's chart and launch it again from there"
    );
  }
  if (phase === "fhir") {
    return (
      "The FHIR server answered with an error. Reload the page; if it fails again, launch the " +
      "app again from the patient's chart or call the EHR's support"
    );
  }
  return (
    "The ICAHT service could not assess the patient. Reload the page; if it fails again, the " +
    "service's administrator finds the reason in the service's log"
  );
}

function showError(element, headline, error) {
  const detail = error && error.message ? firstLine(error.message) : String(error);
  element.textContent = `${headline}. Details: ${detail}`;
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
  renderList("ctcae", assessment.ctcae, (c) => c.text);
  renderAlerts(assessment.alerts);
  // in words, counted ("1 platelet count left out: no unit"); the ids stay in the API's leftOut
  renderList("left-out", assessment.leftOutSummary || [], (o) => o.text);
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
            `ANC ≤ ${e.threshold}/µL ` +
            (e.startDay === e.endDay
              ? `on day ${signed(e.startDay)}`
              : `from day ${signed(e.startDay)} to day ${signed(e.endDay)}`),
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
  const unit = unitLabel(series);
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.series = spec.key;
  figure.dataset.points = String(series.points.length);
  figure.dataset.measured = String(series.points.filter((p) => p.kind === "measured").length);
  const caption = document.createElement("figcaption");
  caption.textContent = `${spec.title} (${unit}): ${describe(series.points, unit)}`;
  figure.append(caption);
  if (spec.key === "anc") {
    // the grade above the plot, not on it: a label inside the plot covered the points of
    // days +72 to +100 (issue 16)
    const grade = document.createElement("p");
    grade.className = "grade-label";
    grade.textContent = gradeCaption(assessment);
    figure.append(grade);
  }
  const plot = document.createElement("div");
  plot.className = "plot";
  plot.setAttribute("role", "img");
  plot.setAttribute("aria-label", caption.textContent);
  const lines = thresholdLines(spec.key, assessment.thresholds);
  const note = document.createElement("p");
  note.className = "lines-note";
  note.textContent = lines.length
    ? `Red dashed lines: ${lines.map((l) => `${withUnit(l.value, unit)} (${l.meaning})`).join("; ")}.`
    : "";
  figure.append(plot, note, valuesTable(spec, series));
  document.getElementById("charts").append(figure);
  drawPlot(plot, spec, series, assessment);
}

// The unit as clinicians write it ("x10^9/L", "/µL"); the API's `unit` is the UCUM code.
function unitLabel(series) {
  return series.unitLabel || series.unit;
}

function withUnit(value, unit) {
  return `${value}${unit.startsWith("/") ? "" : " "}${unit}`;
}

// "< 100/µL" for a "<0.1" x10^9/L result: the true value lies below the bound
function valueText(point, unit) {
  const bound = point.comparator ? `${point.comparator} ` : "";
  return unit ? `${bound}${withUnit(shown(point.value), unit)}` : `${bound}${shown(point.value)}`;
}

function describe(points, unit) {
  if (!points.length) return "no values between day -7 and day +100.";
  const measured = points.filter((p) => p.kind === "measured").length;
  // the lowest: a bound "<x" counts below a plain x
  const low = points.reduce((a, b) =>
    b.value < a.value || (b.value === a.value && b.comparator === "<") ? b : a,
  );
  return (
    `${points.length} days with a value (${measured} measured), ` +
    `lowest ${valueText(low, unit)} on day ${signed(low.day)}.`
  );
}

// unit conversions leave digits no analyser reports (6 mmol/L Hb is 9.666 g/dL): show three
// significant digits, and whole numbers from 100 up (counts per µL)
function shown(value) {
  return Math.abs(value) >= 100 ? String(Math.round(value)) : String(Number(value.toPrecision(3)));
}

function valuesTable(spec, series) {
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = `${spec.title}: the values as a table`;
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const title of ["Day", "Date", `Value (${unitLabel(series)})`, "Kind"]) {
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
    for (const text of [signed(p.day), p.date, valueText(p, ""), p.kind]) {
      row.insertCell().textContent = text;
    }
  }
  details.append(summary, table);
  return details;
}

// The red dashed lines of each chart with what they mean (issue 16): ANC 500 and 100/µL
// (ICAHT); platelets 50 (T-ICAHT, M19 work-up), 20 and 10 x10^9/L (T-ICAHT, M14 transfusion);
// Hb 8 and 7 g/dL (M13 transfusion). The values come from the service's thresholds.
function thresholdLines(key, t) {
  const lines = {
    anc: [
      { value: t.ancSevere, meaning: "ICAHT severe neutropenia" },
      { value: t.ancProfound, meaning: "profound" },
    ],
    platelets: [
      { value: t.plateletModerate, meaning: "T-ICAHT, work-up if persisting" },
      { value: t.plateletSevere, meaning: "T-ICAHT; transfusion with fever, bleeding or infection" },
      { value: t.plateletTransfusion, meaning: "prophylactic transfusion" },
    ],
    hemoglobin: [
      { value: t.hemoglobinTransfusionCardiovascular, meaning: "transfusion with heart disease" },
      { value: t.hemoglobinTransfusion, meaning: "transfusion" },
    ],
  }[key];
  return (lines || []).filter((l) => typeof l.value === "number");
}

// The day axis: linear over days -8..101 in a wide chart; in a narrow one the days after the
// early window are compressed (LATE_COMPRESSION), so days 0-30 take about two thirds of it.
function dayAxis(early) {
  const axis = { k: 1 };
  axis.fwd = (d) => (d <= early ? d : early + (d - early) * axis.k);
  axis.bwd = (v) => (v <= early ? v : early + (v - early) / axis.k);
  axis.fit = (plotWidth) => {
    axis.k = plotWidth < NARROW_PLOT ? LATE_COMPRESSION : 1;
    return axis.k;
  };
  axis.ticks = () => {
    if (axis.k !== 1) return [0, 10, 20, early, LAST_DAY];
    const ticks = [];
    for (let d = -5; d <= LAST_DAY; d += 5) ticks.push(d);
    return ticks;
  };
  return axis;
}

function drawPlot(element, spec, series, assessment) {
  const days = [];
  for (let d = FIRST_DAY; d <= LAST_DAY; d++) days.push(d);
  const byDay = new Map(series.points.map((p) => [p.day, p]));
  const all = days.map((d) => (byDay.has(d) ? byDay.get(d).value : null));
  const only = (test) =>
    days.map((d) => (byDay.has(d) && test(byDay.get(d).kind) ? byDay.get(d).value : null));
  const noLine = () => null;
  const x = dayAxis(assessment.thresholds.earlyEndDay);
  const width = () => Math.max(element.clientWidth, 280);
  const lines = thresholdLines(spec.key, assessment.thresholds);
  x.fit(width() - AXES_WIDTH);
  const options = {
    width: width(),
    height: spec.height,
    padding: [LABEL_STRIP + 4, 4, 0, 0],
    legend: { show: false },
    cursor: { show: false },
    scales: {
      x: { time: false, distr: 100, fwd: x.fwd, bwd: x.bwd, range: [FIRST_DAY - 1, LAST_DAY + 1] },
      y: yScale(spec.key, series, lines),
    },
    axes: [
      {
        label: "day after infusion",
        splits: () => x.ticks(),
        filter: (u, splits) => splits, // uPlot's default filter blanks ticks on a custom scale
        values: (u, splits) => splits.map(signed),
      },
      yAxis(spec.key, unitLabel(series)),
      lineAxis(lines),
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
      drawAxes: [(u) => underlay(u, spec.key, assessment, lines)],
      draw: [(u) => overlay(u, assessment)],
    },
  };
  const data = [days, all, only((k) => k === "measured"), only((k) => k !== "measured")];
  const figure = element.closest("figure");
  const build = () => {
    figure.plot = new uPlot({ ...options, width: width() }, data, element); // read by the tests
    figure.dataset.dayAxis = x.k === 1 ? "linear" : "compressed";
    axisNote();
  };
  build();
  // a new width may change the day axis (linear or compressed): uPlot keeps a scale's
  // transform once built, so the chart is built anew then; otherwise only resized
  new ResizeObserver(() => {
    const before = x.k;
    if (x.fit(width() - AXES_WIDTH) !== before) {
      figure.plot.destroy();
      build();
    } else {
      figure.plot.setSize({ width: width(), height: spec.height });
    }
  }).observe(element);
}

// a compressed day axis is said under the legend, once for all charts
function axisNote() {
  const compressed = document.querySelector("figure.chart[data-day-axis='compressed']");
  document.getElementById("axis-note").textContent = compressed
    ? "Narrow view: the days after day +30 are drawn compressed (see the day ticks)."
    : "";
}

// ANC spans 0 to many thousands while the lines that matter are 100 and 500, and platelets 0 to
// hundreds while the lines are 10, 20 and 50: an asinh scale keeps the low range readable (a
// nadir of 9 lies clearly apart from one of 17) and, unlike a log scale, still shows a 0.
function yScale(key, series, lines) {
  const top = Math.max(1, ...series.points.map((p) => p.value), ...lines.map((l) => l.value));
  if (key === "anc") return { distr: 4, asinh: 50, range: [0, Math.max(top * 2, 1000)] };
  if (key === "platelets") return { distr: 4, asinh: 5, range: [0, Math.max(top * 1.5, 100)] };
  // Hb: from 5 g/dL (or below the lowest value), so that the 7 and 8 g/dL lines lie apart
  const low = Math.min(5, ...series.points.map((p) => Math.floor(p.value) - 1));
  return { range: [Math.max(0, low), top * 1.15] };
}

// uPlot's own ticks on an asinh scale crowd the low range; the clinical steps read better.
const Y_TICKS = {
  anc: [0, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000],
  platelets: [0, 10, 20, 50, 100, 200, 500, 1000, 2000],
};

function yAxis(key, unit) {
  const axis = { label: unit, size: 60 };
  if (!Y_TICKS[key]) return axis;
  return {
    ...axis,
    splits: (u) => Y_TICKS[key].filter((v) => v <= u.scales.y.max),
    filter: (u, splits) => splits, // uPlot's default drops non-decade ticks on asinh scales
    values: (u, splits) => splits.map((v) => (v === null ? "" : String(v))),
  };
}

// The threshold lines' values on the right edge, in red, outside the plot: labels inside it
// covered points.
function lineAxis(lines) {
  return {
    scale: "y",
    side: 1,
    size: 30,
    grid: { show: false },
    ticks: { show: false },
    stroke: "#c0392b",
    splits: () => lines.map((l) => l.value),
    filter: (u, splits) => splits,
    values: (u, splits) => splits.map((v) => String(v)),
  };
}

function underlay(u, key, assessment, lines) {
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
  ctx.strokeStyle = "#c0392b";
  for (const level of lines.map((l) => l.value)) {
    if (level > u.scales.y.max) continue;
    const y = u.valToPos(level, "y", true);
    line(ctx, left, y, left + width, y);
  }
  const today = todayDay(assessment);
  if (today !== null) {
    ctx.setLineDash([]);
    ctx.strokeStyle = "#0b6e4f";
    ctx.lineWidth = 2 * devicePixelRatio;
    const x = u.valToPos(today, "x", true);
    line(ctx, x, top, x, top + height);
  }
  ctx.restore();
}

// The assessment day while a window is still open (day <= +100): the "today" line (issue 16).
function todayDay(assessment) {
  const day = assessment.day;
  const end = assessment.thresholds.lateEndDay ?? LAST_DAY;
  return typeof day === "number" && day >= FIRST_DAY && day <= end ? day : null;
}

function todayText(assessment) {
  const now = new Date();
  const local = [now.getFullYear(), now.getMonth() + 1, now.getDate()]
    .map((n) => String(n).padStart(2, "0"))
    .join("-");
  return assessment.evaluationDate === local ? "today" : `as of day ${signed(assessment.day)}`;
}

// The marker labels in the strip above the plot (no curve is drawn there), left to right,
// each moved right of its neighbour when they would overlap; their boxes go to the figure for
// the browser tests.
function overlay(u, assessment) {
  const { ctx } = u;
  const { left, top, width } = u.bbox;
  const px = devicePixelRatio;
  ctx.save();
  ctx.font = `${12 * px}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  const markers = [
    { day: 0, text: "day 0", colour: "#333" },
    { day: assessment.thresholds.earlyEndDay, text: `day ${assessment.thresholds.earlyEndDay}`, colour: "#333" },
  ];
  const today = todayDay(assessment);
  if (today !== null) markers.push({ day: today, text: todayText(assessment), colour: "#0b6e4f" });
  markers.sort((a, b) => a.day - b.day);
  const y = top - (LABEL_STRIP + 1) * px;
  const gap = 6 * px;
  // left to right: each label right of its line and of its left neighbour ...
  const boxes = [];
  let rightmost = -Infinity;
  for (const marker of markers) {
    const textWidth = ctx.measureText(marker.text).width;
    const x = Math.max(u.valToPos(marker.day, "x", true) + 3 * px, rightmost + gap);
    boxes.push({ text: marker.text, colour: marker.colour, left: x, top: y, width: textWidth, height: 14 * px });
    rightmost = x + textWidth;
  }
  // ... then right to left: pushed back inside the chart, its neighbours with it
  let limit = left + width + u.axes[2]._size * px;
  for (const box of boxes.slice().reverse()) {
    box.left = Math.min(box.left, limit - box.width);
    limit = box.left - gap;
  }
  for (const box of boxes) {
    ctx.fillStyle = box.colour;
    ctx.fillText(box.text, box.left, box.top);
    delete box.colour;
  }
  u.root.closest("figure").markerLabels = boxes; // canvas pixels, for the browser tests
  ctx.restore();
}

// "early N-ICAHT grade 3 (final), late grade 2" above the ANC chart
function gradeCaption(a) {
  const graded = a.early && a.early.grade !== null;
  const grade = graded
    ? `${a.early.grade}${a.early.lowerBound ? "+" : ""} (${a.early.status})`
    : "not graded";
  const lateGraded = a.late && a.late.grade !== null;
  const early = graded ? `Early N-ICAHT grade ${grade}` : "Early N-ICAHT not graded";
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
