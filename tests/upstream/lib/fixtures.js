// Fixed vocabulary of the generated data, including the awkward values that
// README.md guarantees.

exports.AWKWARD = `it's 100% "ok" & + # 😀`
exports.AWKWARD_AGAIN = `see: ${exports.AWKWARD} (again)`

// Message contents that must each occur at least once per account.
exports.ODD_CONTENTS = [
  '',
  null,
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(88).trim(), // 5015 chars
  'discount 50% off',
  'Tom & Jerry',
  '1 + 1 = 2',
  'ticket #4711',
  "can't login",
  'he said "hello"',
  'path C:\\Users\\agent\\file.txt',
  'line one\nline two\nline three',
  'col1\tcol2\tcol3',
  'thanks 🙏🏽 👍 🎉',
  '请帮我重置密码',
  'Здравствуйте, у меня проблема с заказом',
  'مرحبا، أحتاج إلى مساعدة',
  'こんにちは、注文について質問があります',
  'नमस्ते, मेरा ऑर्डर कहाँ है?',
  "100%' OR '1'='1",
  'a%20b+c%2Bd',
]

exports.INCOMING = [
  'Hi, I need help with my order',
  'Hello? Is anyone there?',
  'My package has not arrived yet',
  'How do I reset my password?',
  'I was charged twice this month',
  'Can I change my delivery address?',
  'The app crashes when I open settings',
  'Ich habe eine Frage zu meiner Rechnung',
  'Bonjour, ma commande est en retard',
  '¿Pueden ayudarme con la devolución?',
  'Thanks, that worked!',
  'ok',
  'Still not working...',
  'Order number is 88231',
]

exports.OUTGOING = [
  'Hi! Thanks for reaching out, let me check that for you.',
  'Could you share your order number, please?',
  'I have reset your password, please check your inbox.',
  'The refund has been issued and should arrive in 3-5 business days.',
  'Is there anything else I can help you with?',
  'Sorry for the inconvenience!',
  'Vielen Dank, ich kümmere mich darum.',
  'I am escalating this to our technical team.',
]

exports.BOT = [
  'Hello! I am the virtual assistant. How can I help?',
  'Let me connect you with an agent.',
  'Please choose a topic:',
]

exports.ACTIVITY = [
  'Conversation was assigned to an agent',
  'Conversation was marked resolved',
  'Conversation was reopened',
  'Label added',
]

exports.INBOXES = [
  { name: 'Website Chat', channel_type: 'Channel::WebWidget' },
  { name: 'Support API', channel_type: 'Channel::Api' },
  { name: 'support@example.com', channel_type: 'Channel::Email', email: 'support@example.com' },
  { name: 'WhatsApp Sales & Service', channel_type: 'Channel::Whatsapp' },
  { name: 'Facebook "Page"', channel_type: 'Channel::FacebookPage' },
  { name: 'SMS Hotline', channel_type: 'Channel::Sms' },
]

exports.TIMEZONES = ['Europe/Berlin', 'America/New_York', 'UTC', 'Asia/Kolkata', null]

exports.USERS = [
  ['Francisco Pérez', 'Paco'],
  ['Jürgen Müller', 'Jürgen'],
  ['Zoë Ångström', 'Zoë'],
  ['Łukasz Żółkiewski', null],
  ['李小龙', '小龙'],
  ['Σοφία Παπαδοπούλου', 'Σοφία'],
  ['Олег Петров', 'Олег'],
  ["Ngozi O'Brien", `"Ace" O'Brien & Co`],
  ['Çağla Yıldız', 'Çağla'],
  ['Amélie Dubois', ''],
  ['Priya Sharma', 'Priya 🌟'],
  ['Sam Smith', 'Sam'],
]

exports.LABELS = [
  ['billing', 'Billing questions', '#1f93ff'],
  ['vip', 'Very important customers', '#ff0000'],
  ['bug-report', null, '#d0021b'],
  ['feedback', 'Product feedback', '#7ed321'],
  ['urgent', 'Needs an answer today', '#f5a623'],
  ['churn-risk', `Customers who said "cancel" & left`, '#9013fe'],
  ['ümlaut-größe', 'Unicode title', '#4a90e2'],
  ['sales', 'Sales leads', null],
  ['refund', 'Refund requests (50% & more)', '#50e3c2'],
  ['spam', '', '#000000'],
]
