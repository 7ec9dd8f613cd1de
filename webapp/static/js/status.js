// Polls an image's status while it is being processed, and reloads the page once it is final (an ES module).

const box = document.getElementById('image-status')
if (box) follow(box)

function follow (box) {
  const url = box.getAttribute('data-status-url')
  let delay = 1000

  function show (data) {
    box.setAttribute('data-status', data.status)
    const text = box.querySelector('.status-text')
    if (text) text.textContent = data.status.charAt(0).toUpperCase() + data.status.slice(1)
  }

  function poll () {
    fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then((response) => (response.ok ? response.json() : null))
      .then((data) => {
        if (data && data.final) {
          window.location.reload()
          return
        }
        if (data) show(data)
        delay = Math.min(delay * 1.3, 5000)
        window.setTimeout(poll, delay)
      })
      .catch(() => window.setTimeout(poll, 5000))
  }

  window.setTimeout(poll, delay)
}
