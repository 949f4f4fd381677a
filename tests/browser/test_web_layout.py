"""The layout at phone, tablet and desktop sizes, with screenshots in test-output/screenshots/."""
from playwright.sync_api import expect

from browser_helpers import confirmed, create_room, register, send

SIZES = {"phone": (375, 667), "tablet": (768, 1024), "desktop": (1440, 900)}

# Every visible element must lie within the viewport horizontally (1px of rounding allowed).
OVERFLOW_CHECK = """() => {
  const width = window.innerWidth;
  const offenders = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.checkVisibility({ visibilityProperty: true, opacityProperty: true })) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.left < -1 || box.right > width + 1) {
      offenders.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className}: ${box.left}..${box.right}`);
    }
  }
  return { scrollWidth: document.documentElement.scrollWidth, width, offenders };
}"""


# WCAG AA: the contrast of each visible piece of text against the background behind it.
CONTRAST_CHECK = """() => {
  const parse = (c) => { const m = c.match(/[\\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const bg = parse(getComputedStyle(node).backgroundColor);
      if (bg.a > 0) return bg;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const failures = [];
  for (const el of document.querySelectorAll('body *')) {
    const hasText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!hasText || !el.checkVisibility({ visibilityProperty: true, opacityProperty: true })) continue;
    if (el.closest('.visually-hidden, [inert]')) continue;
    const style = getComputedStyle(el);
    const fg = parse(style.color);
    const ratio = ((a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05))(lum(fg), lum(background(el)));
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) failures.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}": ${ratio.toFixed(2)}`);
  }
  return failures;
}"""


def assert_contrast(page):
    failures = page.evaluate(CONTRAST_CHECK)
    assert not failures, failures


def assert_no_horizontal_overflow(page):
    result = page.evaluate(OVERFLOW_CHECK)
    assert result["scrollWidth"] <= result["width"], result
    assert not result["offenders"], result["offenders"]


def test_layouts_at_phone_tablet_and_desktop_sizes(pages, unique, screenshots_dir):
    page = pages.new(*SIZES["phone"])
    name = unique("layout")

    # Phone: the sign-in page fits.
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_no_horizontal_overflow(page)
    assert_contrast(page)
    page.screenshot(path=screenshots_dir / "phone-sign-in.png")

    register(page, name)
    # One pane at a time: the sidebar is a closed drawer, opened from the menu button.
    sidebar = page.locator("#sidebar")
    menu = page.get_by_role("button", name="Conversations", exact=True)
    expect(sidebar).to_be_hidden()
    expect(page.locator("#empty-state")).to_be_visible()
    menu.click()
    expect(sidebar).to_be_in_viewport(ratio=1)  # slid fully in
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="Close")).to_be_focused()
    assert_no_horizontal_overflow(page)
    assert_contrast(page)
    page.screenshot(path=screenshots_dir / "phone-drawer.png")
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()  # slid out, then visibility: hidden (out of the tab order)
    expect(menu).to_be_focused()

    menu.click()
    room = unique("A room with a rather long name ")
    create_room(page, room, "Where the layout is checked at three sizes")
    expect(sidebar).to_be_hidden()  # picking a conversation closes the drawer
    send(page, "Hello from a small screen")
    send(page, "A long link: https://example.com/" + "very-long-path-segment/" * 6)
    send(page, "A long word: " + "Supercalifragilisticexpialidocious" * 4)
    send(page, "Line one\nLine two\nLine three")
    expect(confirmed(page, "Line one\nLine two\nLine three")).to_be_visible()
    friend = pages.new(*SIZES["desktop"])
    friend_name = unique("friend")
    register(friend, friend_name)
    friend.locator("#room-list button.conv-link", has_text=room).click()
    friend.locator("#join-hint-button").click()
    send(friend, "Hi! Replying from a desktop.")
    expect(confirmed(page, "Hi! Replying from a desktop.")).to_be_visible()
    friend.locator("#composer-input").press_sequentially("typing")
    expect(page.locator("#typing")).to_have_text(f"{friend_name} is typing…")

    menu.click()
    expect(page.locator("#online-list")).to_contain_text(friend_name)
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(page.locator("#composer-input")).to_be_in_viewport()
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_in_viewport()
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshots_dir / "phone-conversation.png")

    # Members are one tap away, as an overlay.
    members = page.locator("#members-panel")
    expect(members).to_be_hidden()
    page.locator("#members-toggle").click()
    expect(members).to_be_visible()
    expect(members).to_contain_text(friend_name)
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshots_dir / "phone-members.png")
    page.keyboard.press("Escape")
    expect(members).to_be_hidden()

    # Tablet: sidebar and conversation side by side; members still behind a button.
    page.set_viewport_size(dict(zip(("width", "height"), SIZES["tablet"])))
    expect(sidebar).to_be_in_viewport(ratio=1)
    expect(menu).to_be_hidden()
    expect(page.locator("#members-toggle")).to_be_visible()
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshots_dir / "tablet.png")

    # Desktop: sidebar, conversation and the members column.
    page.set_viewport_size(dict(zip(("width", "height"), SIZES["desktop"])))
    expect(sidebar).to_be_in_viewport()
    expect(members).to_be_visible()
    expect(page.locator("#members-toggle")).to_be_hidden()
    assert_no_horizontal_overflow(page)
    assert_contrast(page)
    page.screenshot(path=screenshots_dir / "desktop.png")

    # Back to the phone: the drawer is closed again.
    page.set_viewport_size(dict(zip(("width", "height"), SIZES["phone"])))
    expect(sidebar).to_be_hidden()
    assert_no_horizontal_overflow(page)
