// The demo shop's own behaviour: a cart in localStorage (the consent banner is sightline-banner.js).
const PRODUCTS = [
  { id: 'lamp', name: 'Desk lamp', price: 39, color: '#f4c542' },
  { id: 'mug', name: 'Coffee mug', price: 12, color: '#e8684a' },
  { id: 'chair', name: 'Reading chair', price: 249, color: '#5b8def' },
  { id: 'plant', name: 'Fern in a pot', price: 24, color: '#4caf7a' },
];
const cart = () => JSON.parse(localStorage.getItem('demo-cart') || '[]');
const save = (items) => { localStorage.setItem('demo-cart', JSON.stringify(items)); count(); };
const count = () => { const el = document.getElementById('cart-count'); if (el) el.textContent = cart().length; };

function products() {
  const grid = document.getElementById('products');
  if (!grid) return;
  for (const p of PRODUCTS) {
    const card = document.createElement('div');
    card.className = 'card';
    card.innerHTML = `<div class="swatch" style="background:${p.color}"></div>
      <h3>${p.name}</h3><p>$${p.price}</p><button data-id="${p.id}">Add to cart</button>`;
    card.querySelector('button').onclick = (e) => {
      save([...cart(), p.id]);
      e.target.textContent = 'Added ✓';
      window.Sightline && Sightline.track('add_to_cart', { product: p.id, price: p.price });
    };
    grid.append(card);
  }
}

function cartTable() {
  const body = document.getElementById('cart-items');
  if (!body) return;
  const items = cart().map((id) => PRODUCTS.find((p) => p.id === id)).filter(Boolean);
  body.innerHTML = items.length
    ? items.map((p) => `<tr><td>${p.name}</td><td>$${p.price}</td></tr>`).join('')
    : '<tr><td colspan="2">Your cart is empty.</td></tr>';
  document.getElementById('cart-total').textContent = '$' + items.reduce((s, p) => s + p.price, 0);
  document.getElementById('clear').onclick = () => { save([]); cartTable(); };
}

function checkout() {
  const form = document.getElementById('checkout');
  if (!form) return;
  form.onsubmit = async (e) => {
    e.preventDefault();
    const out = document.getElementById('result');
    out.className = 'notice';
    out.textContent = 'Processing payment…';
    const res = await fetch('api/checkout', { method: 'POST', body: JSON.stringify({ items: cart().length }) });
    const body = await res.json().catch(() => ({}));
    out.className = 'notice ' + (res.ok ? 'ok' : 'error');
    out.textContent = res.ok ? 'Thank you for your order!' : `Payment failed: ${body.error || res.status}`;
  };
}

count(); products(); cartTable(); checkout();
