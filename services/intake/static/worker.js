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
  const sentKey = "gridloop.sent." + worker;
  const $ = (id) => document.getElementById(id);
  let position = null;
  let flushing = false;

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

  function sentReports() {
    try { return JSON.parse(localStorage.getItem(sentKey) || "[]"); } catch (e) { return []; }
  }
  function remember(entry, caseId) {
    const sent = sentReports().filter((r) => r.case_id !== caseId);
    sent.unshift({ case_id: caseId, summary: entry.report.description.slice(0, 40), at: entry.report.occurred_at });
    localStorage.setItem(sentKey, JSON.stringify(sent.slice(0, 50)));
  }

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
      remember(entry, (await response.json()).case_id);
      await dropPending(entry.id);
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
      await refreshMine();
    }
  }

  // ---- my reports --------------------------------------------------------------------------------------------
  async function refreshMine() {
    const list = $("mine");
    const sent = sentReports();
    if (!sent.length) { list.replaceChildren(item("还没有已发送的上报。")); return; }
    const rows = [];
    for (const report of sent.slice(0, 20)) {
      let status = null;
      if (navigator.onLine) {
        try {
          const response = await fetch("/app/cases/" + report.case_id, { headers: { Accept: "application/json" } });
          if (response.ok) status = await response.json();
        } catch (e) { status = null; }
      }
      const li = document.createElement("li");
      li.className = "mine";
      li.dataset.caseId = report.case_id;
      const head = document.createElement("div");
      const badge = document.createElement("span");
      badge.className = "badge status" + (status && status.status === "resolved" ? " ok" : status && status.status === "not_admitted" ? " bad" : "");
      badge.textContent = status ? status.label : "—";
      head.append(badge, " " + report.summary);
      li.appendChild(head);
      if (status && status.note) {
        const note = document.createElement("div");
        note.className = "muted";
        note.textContent = (status.department ? status.department + "：" : "") + status.note;
        li.appendChild(note);
      }
      if (status && status.tell_resident) {
        const tell = document.createElement("div");
        tell.className = "tell";
        tell.textContent = status.tell_resident;
        li.appendChild(tell);
      }
      rows.push(li);
    }
    list.replaceChildren(...rows);
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

  window.addEventListener("online", () => { showConnection(); flush(); });
  window.addEventListener("offline", () => { showConnection(); showPending(); });
  document.querySelector("form.logout")?.addEventListener("submit", () => { if (window.caches) caches.delete("gridloop-worker"); });
  if (navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(
      (p) => { position = p.coords; $("location-text").textContent = "已获取手机定位。"; },
      () => { $("location-text").textContent = "未获得定位，使用所选网格的位置。"; },
      { timeout: 10000, maximumAge: 60000 }
    );
  }
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/app/sw.js").catch(() => {});
  showConnection();
  showPending();
  flush();
  setInterval(flush, 5000); // retries, and keeps "my reports" current
})();
