// DOM and HTTP helpers of the bundle. Every text from the server goes through text nodes
// (h() below), never innerHTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const enc = encodeURIComponent;
const TOKEN_KEY = "gitflows-token";

// A `?token=` in the page address is kept for the session (and removed from the address).
export function token() {
  const params = new URLSearchParams(location.search);
  const given = params.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    params.delete("token");
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

// Headers of every request: the bearer token when there is one, and on state-changing
// requests the X-Gitflows-Request header the server's CSRF rule asks for.
export function headers(method) {
  const out = {};
  const bearer = token();
  if (bearer) out.Authorization = `Bearer ${bearer}`;
  if (method !== "GET" && method !== "HEAD") out["X-Gitflows-Request"] = "1";
  return out;
}

export class ApiError extends Error {
  constructor(status, data, fallback) {
    super((data && data.message) || fallback);
    this.status = status;
    this.data = data;
  }
}

// JSON API call; body: object (JSON), string (sent as `type`) or FormData (multipart).
export async function api(method, path, body, type) {
  const init = { method, headers: headers(method) };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = type || "application/json";
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data, `${response.status} ${response.statusText}`);
  return data;
}

export function short(type) { return String(type || "").split(".").pop(); }
