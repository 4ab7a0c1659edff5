// /docs: Swagger UI over /openapi.json. With API keys on, the document lists the reports a key
// may read, so it is fetched with the key of this tab (sessionStorage, shared with the reports
// page), and every request Swagger UI's "Try it out" sends to Sluice carries it too.
'use strict'

const KEY_ITEM = 'sluice.key'

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('key-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const key = event.target.elements.key.value.trim()
    if (key !== '') void load(key)
  })
  void load(sessionStorage.getItem(KEY_ITEM))
})

async function load (key) {
  const headers = { accept: 'application/json' }
  if (key !== null) headers.authorization = `Bearer ${key}`
  let response
  try {
    response = await fetch('/openapi.json', { headers })
  } catch (error) {
    notice(`Sluice did not answer: ${error.message}`)
    return
  }
  const body = await response.json().catch(() => ({}))
  const form = document.getElementById('key-form')
  if (response.status === 401) {
    if (key !== null) sessionStorage.removeItem(KEY_ITEM)
    form.hidden = false
    document.getElementById('key-message').textContent = key === null ? '' : `This key was not accepted: ${body.message}`
    form.elements.key.focus()
    return
  }
  if (!response.ok) {
    notice(`GET /openapi.json answered ${response.status}: ${body.message}`)
    return
  }
  form.hidden = true
  // /openapi.json itself needs the key too: the link would only show a 401
  document.getElementById('openapi-link').hidden = key !== null
  if (key !== null) sessionStorage.setItem(KEY_ITEM, key)
  window.ui = window.SwaggerUIBundle({
    spec: body,
    dom_id: '#swagger-ui',
    deepLinking: true,
    // the default would send the document to an outside validator for a badge
    validatorUrl: null,
    requestInterceptor: (request) => {
      if (key !== null && new URL(request.url, location.href).origin === location.origin) request.headers.Authorization = `Bearer ${key}`
      return request
    }
  })
}

function notice (text) {
  const element = document.getElementById('notice')
  element.textContent = text
  element.hidden = false
}
