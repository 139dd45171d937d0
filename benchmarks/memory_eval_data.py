"""The labelled set for `benchmarks.memory_eval`: (fact told, keyword question, paraphrased question)
per project, and questions about none of them.

Facts are what a user tells a coding assistant; the keyword question reuses the fact's own words, the
paraphrase asks the way a person would a week later, with other words for the same thing.
"""

from __future__ import annotations

FACTS: dict[str, list[tuple[str, str, str]]] = {
    "shop": [
        ("We deploy the shop on Fridays after lunch", "when do we deploy the shop?", "which day do releases go out?"),
        (
            "The shop database is PostgreSQL 16 on pg-main-1",
            "which database does the shop use?",
            "what SQL server holds our data?",
        ),
        (
            "Payments go through Stripe in test mode on staging",
            "how do payments work on staging?",
            "which card processor do we use?",
        ),
        ("The logo colour is teal, hex 008080", "what colour is the logo?", "what shade is our brand mark?"),
        (
            "Product images are stored in the S3 bucket shop-media",
            "where are product images stored?",
            "which bucket holds the pictures?",
        ),
        (
            "The checkout service is written in Go",
            "what language is the checkout service in?",
            "which programming language did we pick for paying?",
        ),
        (
            "Run the test suite with make test-all",
            "how do I run the test suite?",
            "what command checks everything before I push?",
        ),
        (
            "Staging lives at staging.shop.internal",
            "what is the staging address?",
            "where is the pre-production environment?",
        ),
        (
            "The search index is rebuilt nightly at 2am by cron",
            "when is the search index rebuilt?",
            "how often does search get refreshed?",
        ),
        ("Coupons expire after 30 days", "when do coupons expire?", "how long is a discount code valid?"),
        (
            "Our on-call rotation changes every Monday",
            "when does the on-call rotation change?",
            "which day do pager duties switch?",
        ),
        (
            "The frontend uses React with Vite",
            "what does the frontend use?",
            "which UI framework is the web client built with?",
        ),
        ("Emails are sent with Postmark", "how are emails sent?", "which service delivers our mail?"),
        (
            "Inventory sync runs every 15 minutes",
            "how often does inventory sync run?",
            "how frequently are stock levels updated?",
        ),
        (
            "The admin panel is at /backoffice",
            "where is the admin panel?",
            "what URL do staff use to manage the store?",
        ),
        (
            "Prices are stored in cents as integers",
            "how are prices stored?",
            "in what unit do we keep amounts of money?",
        ),
        (
            "Feature flags live in LaunchDarkly",
            "where do feature flags live?",
            "what tool toggles unfinished features?",
        ),
        (
            "Customer support uses Zendesk",
            "what does customer support use?",
            "which helpdesk do agents answer tickets in?",
        ),
        ("Logs are shipped to Datadog", "where are logs shipped?", "which observability vendor collects our output?"),
        (
            "The maximum cart size is 50 items",
            "what is the maximum cart size?",
            "how many products can one basket hold?",
        ),
    ],
    "blog": [
        (
            "The blog is built with Hugo",
            "what is the blog built with?",
            "which static site generator renders the posts?",
        ),
        (
            "Posts are written in Markdown under content/posts",
            "where are posts written?",
            "in which folder do articles go?",
        ),
        ("The blog is hosted on Netlify", "where is the blog hosted?", "which platform serves the website?"),
        ("Comments are handled by Giscus", "how are comments handled?", "what lets readers reply under an article?"),
        (
            "The newsletter goes out every Sunday morning",
            "when does the newsletter go out?",
            "which day do subscribers get the digest?",
        ),
        ("The blog theme is called Paper", "what is the blog theme called?", "which look did we choose for the site?"),
        ("Analytics use Plausible", "what do analytics use?", "how do we count visitors?"),
        (
            "Images are compressed with squoosh before upload",
            "how are images compressed?",
            "what shrinks pictures before they go up?",
        ),
        ("The domain renews in March", "when does the domain renew?", "which month is the registrar bill due?"),
        ("Drafts live in the drafts branch", "where do drafts live?", "where are unpublished articles kept?"),
        ("The RSS feed is at /index.xml", "where is the RSS feed?", "what URL do feed readers subscribe to?"),
        (
            "Guest authors need an editor review",
            "do guest authors need a review?",
            "who checks articles from outside writers?",
        ),
        (
            "Code snippets use the Dracula highlighting style",
            "which highlighting style do code snippets use?",
            "what colour scheme shows source examples?",
        ),
        (
            "The sitemap is generated automatically on build",
            "how is the sitemap generated?",
            "do we make the list of pages for search engines by hand?",
        ),
        (
            "Old posts are archived after two years",
            "when are old posts archived?",
            "how long before articles move to the archive?",
        ),
        ("Tags are limited to five per post", "how many tags per post?", "what is the cap on labels for an article?"),
        ("The blog builds in GitHub Actions", "where does the blog build?", "which CI runs the site generation?"),
        (
            "Fonts are Inter for body and JetBrains Mono for code",
            "which fonts does the blog use?",
            "what typefaces are on the site?",
        ),
        (
            "The contact form posts to Formspree",
            "where does the contact form post?",
            "what receives messages sent from the site?",
        ),
        ("Spam comments are filtered with Akismet", "how are spam comments filtered?", "what keeps junk replies away?"),
    ],
    "infra": [
        (
            "The Kubernetes cluster runs on EKS in eu-west-1",
            "where does the Kubernetes cluster run?",
            "which cloud region hosts our containers?",
        ),
        (
            "Terraform state is in the S3 bucket infra-tfstate",
            "where is the Terraform state?",
            "where do we keep the infrastructure-as-code state file?",
        ),
        (
            "Backups run nightly with restic to Backblaze",
            "how do backups run?",
            "where do our nightly copies of data go?",
        ),
        (
            "VPN access is through WireGuard",
            "how is VPN access done?",
            "how do I connect to the private network from home?",
        ),
        ("Secrets are kept in HashiCorp Vault", "where are secrets kept?", "which tool stores passwords for services?"),
        (
            "Grafana dashboards are at grafana.internal",
            "where are the Grafana dashboards?",
            "where can I see graphs of the servers?",
        ),
        (
            "The Postgres primary fails over with Patroni",
            "how does the Postgres primary fail over?",
            "what promotes a replica when the main database dies?",
        ),
        (
            "TLS certificates come from Let's Encrypt via cert-manager",
            "where do TLS certificates come from?",
            "who issues our HTTPS certs?",
        ),
        (
            "Node pools scale between 3 and 12 nodes",
            "how do node pools scale?",
            "what are the autoscaling limits of the cluster?",
        ),
        ("DNS is managed in Cloudflare", "where is DNS managed?", "which provider holds our domain records?"),
        ("Alerts page through Opsgenie", "how do alerts page?", "what wakes people up when something breaks?"),
        (
            "The container registry is ghcr.io/acme",
            "what is the container registry?",
            "where are docker images pushed?",
        ),
        (
            "Helm charts live in the charts repository",
            "where do Helm charts live?",
            "where are the deployment packages for the cluster kept?",
        ),
        ("Redis runs as a managed ElastiCache cluster", "how does Redis run?", "what hosts the in-memory cache?"),
        (
            "Maintenance windows are Tuesdays 6 to 8 UTC",
            "when are maintenance windows?",
            "when may we take systems down for upgrades?",
        ),
        ("Log retention is 30 days in Loki", "what is the log retention?", "how long do we keep output from services?"),
        (
            "SSH uses short-lived certificates from Teleport",
            "how does SSH work?",
            "how do engineers log in to machines?",
        ),
        (
            "The load balancer is an AWS ALB",
            "what is the load balancer?",
            "what spreads incoming traffic across servers?",
        ),
        (
            "Cost reports are emailed on the first of the month",
            "when are cost reports emailed?",
            "when do we hear about the cloud bill?",
        ),
        (
            "Staging clusters shut down at night to save money",
            "do staging clusters shut down at night?",
            "are test environments turned off after hours?",
        ),
    ],
}

UNRELATED = [
    "write a haiku about autumn leaves",
    "what is the capital of Australia?",
    "explain recursion to a five year old",
    "how many legs does a spider have?",
    "translate good morning into Spanish",
    "what year did the Berlin wall fall?",
    "give me a recipe for pancakes",
    "how does photosynthesis work?",
    "who wrote Pride and Prejudice?",
    "what is the boiling point of water in Fahrenheit?",
    "suggest a name for a golden retriever puppy",
    "convert 10 miles to kilometres",
    "what is a prime number?",
    "tell me a joke about cats",
    "how far is the moon from the earth?",
    "what does a sommelier do?",
    "summarise the plot of Hamlet",
    "what is the square root of 144?",
    "how do I tie a bowline knot?",
    "which planet has the most moons?",
    "what rhymes with orange?",
    "how long should I boil an egg?",
    "what is the difference between a violin and a viola?",
    "name three famous impressionist painters",
    "how do bees make honey?",
    "what language is spoken in Brazil?",
    "explain the rules of chess castling",
    "what causes rainbows?",
    "recommend a good stretching routine",
    "what is the tallest mountain in Africa?",
]
