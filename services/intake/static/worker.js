// The grid worker app: reports are written to an outbox on the phone (IndexedDB) first and sent from there, so a
// report written without a connection waits on the phone and goes when the connection returns. Each report
// carries its client_report_id from the moment it is written: a retry after a lost answer names the same case.
"use strict";

(function () {
  const root = document.getElementById("app");
  if (!root) return;
  const worker = root.dataset.worker;
  const csrf = root.dataset.csrf;
  const photoMaxBytes = Number(root.dataset.photoMaxMb) * 1024 * 1024;
  const maxPhotos = Number(root.dataset.maxPhotos);
  const $ = (id) => document.getElementById(id);
  let position = null;
  let flushing = false;
  let sentSome = false; // a report left the outbox: "my reports" is read again

  // ---- the outbox: one IndexedDB store, keyed by client_report_id --------------------------------------------
  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open("gridloop-worker-" + worker, 1);
      request.onupgradeneeded = () => request.result.createObjectStore("outbox", { keyPath: "id" });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  async function store(mode, action) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction("outbox", mode);
      const result = action(tx.objectStore("outbox"));
      tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
      tx.onerror = () => reject(tx.error);
    });
  }
  const allPending = () => store("readonly", (s) => s.getAll());
  const putPending = (entry) => store("readwrite", (s) => s.put(entry));
  const dropPending = (id) => store("readwrite", (s) => s.delete(id));

  // "My reports" as last drawn, so the app shows them without a connection too.
  const mineKey = "gridloop.mine." + worker;
  const labels = JSON.parse(root.dataset.statusLabels || "{}");

  // ---- rendering ---------------------------------------------------------------------------------------------
  function item(text, extra) {
    const li = document.createElement("li");
    li.textContent = text;
    if (extra) {
      const p = document.createElement("div");
      p.className = extra.className || "muted";
      p.textContent = extra.text;
      li.appendChild(p);
    }
    return li;
  }
  async function showPending() {
    const pending = await allPending();
    $("pending-count").textContent = String(pending.length);
    const list = $("pending");
    list.replaceChildren();
    for (const entry of pending) {
      const state = entry.error ? "未能发送：" + entry.error : navigator.onLine ? "正在发送…" : "等待网络";
      const li = item(entry.report.description.slice(0, 40), { text: state, className: entry.error ? "late" : "muted" });
      li.dataset.id = entry.id;
      li.className = "pending";
      list.appendChild(li);
    }
  }
  function showConnection() {
    const banner = $("connection");
    if (navigator.onLine) {
      banner.classList.add("hidden");
    } else {
      banner.textContent = "当前无网络：上报将保存在本机，网络恢复后自动发送。";
      banner.className = "flash error";
    }
  }

  // ---- sending -----------------------------------------------------------------------------------------------
  async function post(url, body, json) {
    const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
    if (json) headers["Content-Type"] = "application/json";
    return fetch(url, { method: "POST", body: json ? JSON.stringify(body) : body, headers, credentials: "same-origin" });
  }
  async function detail(response) {
    try { return (await response.json()).detail || "上报未被接受"; } catch (e) { return "上报未被接受"; }
  }
  const retryLater = (status) => status === 429 || status >= 500;

  // Sends one report: its photos first (each under an id derived from the report's id), then the report.
  // Returns false when the connection or the service is down (try again later).
  async function send(entry) {
    const urls = [];
    for (let i = 0; i < entry.photos.length; i++) {
      const form = new FormData();
      form.append("photo", entry.photos[i], "photo-" + i);
      form.append("client_report_id", entry.id);
      form.append("index", String(i));
      const response = await post("/app/photos", form, false);
      if (retryLater(response.status)) return false;
      if (response.status === 401) { entry.error = "登录已失效，请重新登录"; await putPending(entry); return false; }
      if (!response.ok) { entry.error = await detail(response); await putPending(entry); return true; }
      urls.push((await response.json()).url);
    }
    const response = await post("/app/reports", { ...entry.report, photo_urls: urls }, true);
    if (retryLater(response.status)) return false;
    if (response.status === 200 || response.status === 202) {
      await dropPending(entry.id);
      sentSome = true;
      return true;
    }
    entry.error = await detail(response);
    await putPending(entry);
    return response.status !== 401;
  }
  async function flush() {
    if (flushing || !navigator.onLine) return;
    flushing = true;
    try {
      for (const entry of await allPending()) {
        if (entry.error) continue; // refused: kept for the worker to read, not resent
        let ok;
        try { ok = await send(entry); } catch (e) { ok = false; } // network gone mid-way
        if (!ok) break;
      }
    } finally {
      flushing = false;
      await showPending();
      if (sentSome) { sentSome = false; await refreshMine(); }
    }
  }

  // ---- my reports: the worker feed (GET /app/mine), kept live by its stream (/app/mine/stream) -------------
  // One card per report: its status, the latest outcome and, for a case not admitted, what to tell the resident.
  // worker_app.report_card draws a listed report the same way.
  let stream = null;
  let polling = null;
  let newest = 0; // the newest update drawn: the stream starts after it
  function card(report) {
    const li = document.createElement("li");
    li.className = "mine";
    li.dataset.caseId = report.case_id;
    li.dataset.status = report.status;
    const head = document.createElement("div");
    const badge = document.createElement("span");
    badge.className = "badge status" + (report.status === "resolved" || report.status === "closed" ? " ok" : report.action_needed ? " bad" : "");
    badge.textContent = report.label || "—";
    head.append(badge, " " + report.summary);
    li.appendChild(head);
    if (report.note) {
      const note = document.createElement("div");
      note.className = "muted note";
      note.textContent = report.note;
      li.appendChild(note);
    }
    if (report.tell_resident) {
      const tell = document.createElement("div");
      tell.className = "tell";
      tell.textContent = report.tell_resident;
      li.appendChild(tell);
    }
    return li;
  }
  function draw(reports) {
    const list = $("mine");
    if (!reports.length) { list.replaceChildren(item("还没有已发送的上报。")); return; }
    list.replaceChildren(...reports.map(card));
  }
  function drawn() {
    try { return JSON.parse(localStorage.getItem(mineKey) || "[]"); } catch (e) { return []; }
  }
  function keep(reports) { localStorage.setItem(mineKey, JSON.stringify(reports)); draw(reports); }
  async function refreshMine() {
    if (!navigator.onLine) return;
    try {
      const response = await fetch("/app/mine", { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return;
      const body = await response.json();
      newest = Math.max(newest, body.newest_update || 0);
      keep(body.reports);
    } catch (e) { /* the connection went: the cards drawn stay */ }
  }
  // A streamed outcome redraws its report's card; a report not drawn yet (sent from another phone) reloads the list.
  function apply(update) {
    newest = Math.max(newest, update.id);
    const reports = drawn();
    const report = reports.find((r) => r.case_id === update.case_id);
    if (!report) { refreshMine(); return; }
    if (update.status in labels) { report.status = update.status; report.label = labels[update.status]; }
    report.action_needed = update.action_needed;
    report.note = update.text;
    report.tell_resident = null;
    if (update.status === "not_admitted") {
      report.note = "不予受理：" + (update.detail.reason || "");
      report.tell_resident = update.detail.refer_to || "请告知居民：" + (update.detail.reason || "");
    }
    keep(reports);
  }
  function poll(on) {
    if (on && !polling) polling = setInterval(refreshMine, 10000);
    if (!on && polling) { clearInterval(polling); polling = null; }
    $("mine-live").textContent = !on ? "状态变化将实时显示。"
      : navigator.onLine ? "实时连接中断，每10秒刷新一次。" : "当前无网络：显示的是上次看到的状态，网络恢复后自动更新。";
  }
  // The stream first; polling the list only while the stream is down. The browser reconnects by itself (sending
  // the last update's id); a stream closed for good (signed out) is reopened on the next sign of a connection.
  function listen() {
    if (!window.EventSource) { poll(true); return; }
    if (stream && stream.readyState !== EventSource.CLOSED) return;
    stream = new EventSource("/app/mine/stream?after=" + newest);
    stream.addEventListener("open", () => { poll(false); refreshMine(); });
    stream.addEventListener("status", (event) => apply(JSON.parse(event.data)));
    stream.addEventListener("error", () => poll(true));
  }

  // ---- the form ----------------------------------------------------------------------------------------------
  function fail(message) {
    const box = $("form-error");
    box.textContent = message;
    box.classList.remove("hidden");
  }
  function location() {
    if (position) return { lat: position.latitude, lon: position.longitude };
    const option = $("grid").selectedOptions[0];
    return { lat: Number(option.dataset.lat), lon: Number(option.dataset.lon), address: option.dataset.name };
  }
  $("report").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("form-error").classList.add("hidden");
    const description = $("description").value.trim();
    const phone = $("resident-phone").value.trim();
    const name = $("resident-name").value.trim();
    const files = Array.from($("photos").files || []);
    if (!$("grid").value) return fail("请选择网格");
    if (description.length < 2) return fail("请填写情况描述");
    if (!name) return fail("请填写居民姓名");
    if (!/^1[3-9]\d{9}$/.test(phone)) return fail("请填写 11 位手机号");
    if (files.length > maxPhotos) return fail("照片最多 " + maxPhotos + " 张");
    for (const file of files) {
      if (!["image/jpeg", "image/png"].includes(file.type)) return fail("只接受 JPEG 或 PNG 照片");
      if (file.size > photoMaxBytes) return fail("照片 " + file.name + " 太大");
    }
    const hint = $("item").value.trim().split(/\s+/)[0];
    const report = {
      client_report_id: crypto.randomUUID(),
      worker_id: worker,
      grid_id: $("grid").value,
      description,
      item_hint: /^[PFS]\d{2}$/.test(hint) ? hint : null,
      location: location(),
      occurred_at: new Date().toISOString(),
      resident: { name, phone, notify_consent: $("consent").checked, channel: "sms" },
    };
    await putPending({ id: report.client_report_id, report, photos: files, error: null });
    $("report").reset();
    await showPending();
    flush();
  });

  window.addEventListener("online", () => { showConnection(); flush(); listen(); });
  window.addEventListener("offline", () => { showConnection(); showPending(); });
  document.querySelector("form.logout")?.addEventListener("submit", () => {
    localStorage.removeItem(mineKey); // the cards drawn, and the page kept for offline use, leave with the worker
    if (window.caches) caches.delete("gridloop-worker");
  });
  if (navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(
      (p) => { position = p.coords; $("location-text").textContent = "已获取手机定位。"; },
      () => { $("location-text").textContent = "未获得定位，使用所选网格的位置。"; },
      { timeout: 10000, maximumAge: 60000 }
    );
  }
  // Scope /app: the page itself (sw.js is served with Service-Worker-Allowed: /app).
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/app/sw.js", { scope: "/app" }).catch(() => {});
  showConnection();
  draw(drawn());
  showPending();
  refreshMine().then(listen);
  flush();
  setInterval(flush, 5000); // retries what waits on the phone
})();
