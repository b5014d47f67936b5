"""The bank of open questions, one of which each agenda carries.

Written for calsync from the advice of the 1on1 guide in ``seed/``: ask open questions
(not yes/no), let the report do most of the talking, cover growth and career, problems
and what is in the way, what went well and why, the support the report needs, and the
1on1 itself. Each bank has a prime number of questions (13) so that any meeting
interval that is not a multiple of 13 days walks through every question in turn.
"""

from __future__ import annotations

EN: tuple[str, ...] = (
    "What gave you the strongest sense of achievement recently?",
    "What kind of work would you like to take on next?",
    "What was the hardest part of your work lately, and what made it hard?",
    "Which skills would you like to grow over the next few months?",
    "What is getting in your way right now, and how could I help?",
    "Behind a recent result, what did you do that made it work?",
    "If you could change one thing about how our team works, what would it be?",
    "What support would make the biggest difference to you this month?",
    "Where would you like your career to go, and what would help you get there?",
    "What did you learn from something that did not go as planned?",
    "What is on your mind that we have not talked about yet?",
    "How could we make these 1on1s more useful for you?",
    "What would you like to learn or explore, even beyond your current work?",
)

JA: tuple[str, ...] = (
    "最近の仕事で、いちばん達成感を感じたのはどんな瞬間でしたか？",
    "次はどんな仕事やプロジェクトに挑戦してみたいですか？",
    "最近いちばん大変だったことは何ですか？何がそれを難しくしていましたか？",
    "これからの数か月で、どんなスキルを伸ばしていきたいですか？",
    "いま仕事の妨げになっていることは何ですか？私はどんな形で手助けできそうですか？",
    "最近の成果は、どんな工夫から生まれたと思いますか？",
    "チームの進め方をひとつ変えられるとしたら、何を変えたいですか？",
    "今月、どんなサポートがあるといちばん助かりますか？",
    "これからどんなキャリアを描いていますか？そこへ近づくために何が必要だと思いますか？",
    "思いどおりに進まなかったことから、どんな学びがありましたか？",
    "まだ話せていないことで、いま気になっていることは何ですか？",
    "この1on1をもっと役に立つ時間にするには、どうしたらよいと思いますか？",
    "いまの業務の枠を超えて、学んでみたいことや興味のあることは何ですか？",
)

BANKS: dict[str, tuple[str, ...]] = {"en": EN, "ja": JA}
